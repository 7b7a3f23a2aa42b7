/**
 * Throw-away TLS material for a local broker, made with the JDK's `keytool` (no openssl needed):
 * a test CA, a broker key and certificate for 127.0.0.1 signed by it (PKCS12 keystore), a
 * truststore with the CA, the CA as PEM for clients — and a second, unrelated CA as PEM, for a
 * client that trusts the wrong one. Valid for 2 days.
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import type { LocalBrokerTls } from "../../lib/kafka/local-broker.ts";

export interface TlsMaterial extends LocalBrokerTls {
  /** A CA that signed nothing the broker serves. */
  wrongCaPemPath: string;
}

export function makeTlsMaterial(dir: string): TlsMaterial {
  const password = randomBytes(12).toString("hex");
  const keytool = (...args: string[]) => execFileSync("keytool", args, { stdio: ["ignore", "pipe", "pipe"] });
  const store = (name: string) => ["-keystore", join(dir, name), "-storetype", "PKCS12", "-storepass", password];
  const newCa = (name: string) => {
    keytool("-genkeypair", "-alias", "ca", "-keyalg", "EC", "-groupname", "secp256r1", "-dname", `CN=${name}`, "-ext", "bc:c", "-validity", "2", ...store(`${name}.p12`));
    keytool("-exportcert", "-rfc", "-alias", "ca", ...store(`${name}.p12`), "-file", join(dir, `${name}.pem`));
  };
  newCa("orderpulse-test-ca");
  newCa("orderpulse-wrong-ca");

  const san = ["-ext", "SAN=ip:127.0.0.1,dns:localhost"];
  keytool("-genkeypair", "-alias", "broker", "-keyalg", "EC", "-groupname", "secp256r1", "-dname", "CN=127.0.0.1", ...san, "-validity", "2", ...store("broker.p12"));
  keytool("-certreq", "-alias", "broker", ...store("broker.p12"), "-file", join(dir, "broker.csr"));
  keytool(
    "-gencert", "-rfc", "-alias", "ca", ...store("orderpulse-test-ca.p12"), "-infile", join(dir, "broker.csr"), "-outfile", join(dir, "broker.pem"),
    ...san, "-ext", "KU=digitalSignature,keyAgreement", "-ext", "EKU=serverAuth,clientAuth", "-validity", "2",
  );
  // The chain goes into the keystore in order: the CA first, then the signed certificate replaces the self-signed one.
  keytool("-importcert", "-noprompt", "-alias", "ca", "-file", join(dir, "orderpulse-test-ca.pem"), ...store("broker.p12"));
  keytool("-importcert", "-noprompt", "-alias", "broker", "-file", join(dir, "broker.pem"), ...store("broker.p12"));
  keytool("-importcert", "-noprompt", "-alias", "ca", "-file", join(dir, "orderpulse-test-ca.pem"), ...store("truststore.p12"));

  return {
    keystorePath: join(dir, "broker.p12"),
    keystorePassword: password,
    truststorePath: join(dir, "truststore.p12"),
    truststorePassword: password,
    caPemPath: join(dir, "orderpulse-test-ca.pem"),
    wrongCaPemPath: join(dir, "orderpulse-wrong-ca.pem"),
  };
}
