//! `MemoryStore` passes the store conformance suite.

#[tokio::test]
async fn memory_store_conforms() {
    kudos_ledger::testkit::conformance(&kudos_ledger::MemoryStore::new()).await;
}
