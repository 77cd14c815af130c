//! Short-lived states: kept until they expire, found only by their kind and hash, and
//! taken once.

use gatehouse::store::PendingKind;

use super::{Fixture, fixture, t};

on_every_store!(
    a_pending_state_is_found_until_it_expires_and_taken_once,
    a_state_put_once_is_put_by_one_caller
);

async fn a_state_put_once_is_put_by_one_caller(f: Fixture) {
    let kind = PendingKind::LegacyToken;
    let hash = [9u8; 32];
    let (a, b) = tokio::join!(
        f.pending.put_pending_once(kind, &hash, b"", t(300)),
        f.pending.put_pending_once(kind, &hash, b"", t(300))
    );
    assert!(a.unwrap() ^ b.unwrap(), "exactly one put wins");
    assert!(
        !f.pending
            .put_pending_once(kind, &hash, b"", t(300))
            .await
            .unwrap()
    );
    // Another kind, or the same hash once taken, is new again.
    assert!(
        f.pending
            .put_pending_once(PendingKind::SignIn, &hash, b"", t(300))
            .await
            .unwrap()
    );
    assert!(f.pending.take_pending(kind, &hash).await.unwrap());
    assert!(
        f.pending
            .put_pending_once(kind, &hash, b"", t(300))
            .await
            .unwrap()
    );
}

async fn a_pending_state_is_found_until_it_expires_and_taken_once(f: Fixture) {
    let kind = PendingKind::SignIn;
    let hash = [7u8; 32];
    let other = [8u8; 32];
    // Expiring at second 300 of the fixture's time, however far that is from now: the
    // store judges by the time it is given.
    f.pending
        .put_pending(kind, &hash, b"waiting", t(300))
        .await
        .unwrap();

    let found = f.pending.find_pending(kind, &hash, t(299)).await.unwrap();
    assert_eq!(found.as_deref(), Some(&b"waiting"[..]));
    assert_eq!(
        f.pending.find_pending(kind, &other, t(1)).await.unwrap(),
        None
    );
    assert_eq!(
        f.pending.find_pending(kind, &hash, t(300)).await.unwrap(),
        None
    );
    // Finding it leaves it; taking it removes it, once.
    assert!(
        f.pending
            .find_pending(kind, &hash, t(2))
            .await
            .unwrap()
            .is_some()
    );
    let (a, b) = tokio::join!(
        f.pending.take_pending(kind, &hash),
        f.pending.take_pending(kind, &hash)
    );
    assert!(a.unwrap() ^ b.unwrap(), "exactly one take wins");
    assert_eq!(
        f.pending.find_pending(kind, &hash, t(3)).await.unwrap(),
        None
    );

    // Purging what expired (the SQL store; Redis expires keys by itself) keeps the rest.
    f.pending
        .put_pending(kind, &other, b"old", t(10))
        .await
        .unwrap();
    f.pending
        .put_pending(kind, &hash, b"new", t(100))
        .await
        .unwrap();
    f.pending.purge_pending(t(20)).await.unwrap();
    assert_eq!(
        f.pending.find_pending(kind, &other, t(20)).await.unwrap(),
        None
    );
    let kept = f.pending.find_pending(kind, &hash, t(20)).await.unwrap();
    assert_eq!(kept.as_deref(), Some(&b"new"[..]));
}
