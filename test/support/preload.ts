import { afterAll } from "bun:test";
import { stopSharedBroker } from "./broker.ts";
import { stopSaslBroker } from "./sasl-broker.ts";
import { stopTlsBroker } from "./tls-broker.ts";

afterAll(() => Promise.all([stopSharedBroker(), stopSaslBroker(), stopTlsBroker()]));
