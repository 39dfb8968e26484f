//! Cross-shard messaging: a full mesh of bounded single-producer single-consumer channels, one per
//! ordered pair of shards. A round trip costs tens of microseconds, so callers batch.

use glommio::channels::shared_channel::{
    self, ConnectedReceiver, ConnectedSender, SharedReceiver, SharedSender,
};

/// Messages a channel holds before a sender waits.
const CHANNEL_CAPACITY: usize = 4096;

/// One shard's unconnected ends of the mesh; `Send`, so it can be handed to the shard's thread.
pub struct MeshEnds<T: Send + 'static> {
    senders: Vec<Option<SharedSender<T>>>,
    receivers: Vec<Option<SharedReceiver<T>>>,
}

/// Builds the mesh for `shards` shards; element `i` is shard `i`'s ends.
pub fn build<T: Send + 'static>(shards: usize) -> Vec<MeshEnds<T>> {
    let mut ends: Vec<MeshEnds<T>> = (0..shards)
        .map(|_| MeshEnds {
            senders: (0..shards).map(|_| None).collect(),
            receivers: (0..shards).map(|_| None).collect(),
        })
        .collect();
    for from in 0..shards {
        for to in 0..shards {
            if from != to {
                let (tx, rx) = shared_channel::new_bounded(CHANNEL_CAPACITY);
                ends[from].senders[to] = Some(tx);
                ends[to].receivers[from] = Some(rx);
            }
        }
    }
    ends
}

/// A shard's connected senders, indexed by destination shard.
pub struct Senders<T: Send + 'static> {
    senders: Vec<Option<ConnectedSender<T>>>,
}

impl<T: Send + 'static> Senders<T> {
    /// Sends `msg` to shard `to` (never to oneself), waiting while its channel is full.
    pub async fn send(&self, to: usize, msg: T) {
        let sender = self.senders[to].as_ref().expect("no channel to oneself");
        if sender.send(msg).await.is_err() {
            // The peer's executor has stopped: only during shutdown.
            log::debug!("shard {to} is gone; message dropped");
        }
    }
}

/// A connected receiving end: messages from one peer.
pub struct Receiver<T: Send + 'static> {
    inner: ConnectedReceiver<T>,
}

impl<T: Send + 'static> Receiver<T> {
    pub async fn recv(&self) -> Option<T> {
        self.inner.recv().await
    }
}

impl<T: Send + 'static> MeshEnds<T> {
    /// Connects this shard's ends; must run on the shard's own executor. Every end waits for its
    /// peer, so all are connected at once (one at a time would deadlock between two shards).
    pub async fn connect(self) -> (Senders<T>, Vec<Receiver<T>>) {
        let senders = futures::future::join_all(self.senders.into_iter().map(|s| async move {
            match s {
                Some(s) => Some(s.connect().await),
                None => None,
            }
        }));
        let receivers =
            futures::future::join_all(self.receivers.into_iter().flatten().map(|r| async move {
                Receiver {
                    inner: r.connect().await,
                }
            }));
        let (senders, receivers) = futures::future::join(senders, receivers).await;
        (Senders { senders }, receivers)
    }
}
