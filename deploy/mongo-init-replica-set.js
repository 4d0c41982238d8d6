// Run once by the `mongodb-init` service of docker-compose.yml (mongosh --file).
// Initiates the single-node replica set rs0 unless it already exists, then waits until this
// node is primary, so the services start against a store that accepts transactions.
const config = { _id: "rs0", members: [{ _id: 0, host: "mongodb:27017" }] };
try {
  rs.status();
  print("replica set rs0 already initiated");
} catch (e) {
  if (e.codeName !== "NotYetInitialized") {
    throw e;
  }
  rs.initiate(config);
  print("replica set rs0 initiated");
}
const deadline = Date.now() + 60 * 1000;
while (!db.hello().isWritablePrimary) {
  if (Date.now() > deadline) {
    throw new Error("rs0 has no primary after 60 s");
  }
  sleep(500);
}
print("rs0 primary ready");
