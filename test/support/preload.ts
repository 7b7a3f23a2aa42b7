import { afterAll } from "bun:test";
import { stopSharedBroker } from "./broker.ts";

afterAll(stopSharedBroker);
