import { afterAll } from "bun:test";
import { stopSharedBroker } from "./broker.ts";
import { stopSaslBroker } from "./sasl-broker.ts";

afterAll(() => Promise.all([stopSharedBroker(), stopSaslBroker()]));
