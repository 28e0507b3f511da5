//! The loop's idle wait against the real broker: librdkafka rings the bell when a message
//! reaches the consumer's queue, and a query's ring ends the wait too, so an idle loop
//! neither sleeps through a message nor makes a query wait out its timeout.

mod support;

use support::*;

use std::time::{Duration, Instant};

use lifecycle::kafka::idle_wait::IdleWait;
use lifecycle::kafka::queries::channel;
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

/// Far longer than anything here takes: a wait that lasts it was not woken.
const NEVER: Duration = Duration::from_secs(60);

#[test]
fn a_message_or_a_ring_ends_an_idle_wait() {
    let broker = Broker::start();
    broker.create_topic("idle-in", 1, false);
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("group.id", "idle")
        .set("auto.offset.reset", "earliest")
        // No periodic commit events on the queue: only what a test causes ends a wait.
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    consumer.subscribe(&["idle-in"]).expect("subscribe");
    wait_for("the assignment", Duration::from_secs(30), || {
        consumer.poll(Duration::from_millis(10));
        consumer.assignment().is_ok_and(|a| a.count() == 1)
    });
    let (queries, inbox) = channel();
    let idle = IdleWait::new(&consumer, inbox.bell()).expect("a consumer queue and a bell");
    while consumer.poll(Duration::ZERO).is_some() {}

    // A message produced once the wait has looked at the queue (from the readiness
    // question on) can only end it by librdkafka's ring.
    let (go, went) = std::sync::mpsc::channel::<()>();
    let bootstrap = broker.bootstrap();
    let sender = std::thread::spawn(move || {
        let producer: BaseProducer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .create()
            .expect("producer");
        went.recv().expect("the signal to produce");
        producer
            .send(BaseRecord::to("idle-in").key("c-1").payload("{}"))
            .expect("send");
        producer.flush(Duration::from_secs(30)).expect("flush");
    });
    let started = Instant::now();
    idle.wait_or(NEVER, &inbox, || {
        go.send(()).expect("signal");
        false
    });
    assert!(
        started.elapsed() < NEVER,
        "the message did not end the wait"
    );
    sender.join().expect("producer thread");
    let message = consumer.poll(Duration::from_secs(30));
    assert!(matches!(message, Some(Ok(_))), "{message:?}");

    // Nothing queued: a query asked once the loop has said it waits (the asker sees that
    // and rings) ends the wait.
    while consumer.poll(Duration::ZERO).is_some() {}
    let mut asker = None;
    let started = Instant::now();
    idle.wait_or(NEVER, &inbox, || {
        assert!(inbox.loop_waits());
        let queries = queries.clone();
        asker = Some(std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime")
                .block_on(queries.status(Duration::from_millis(10)))
        }));
        false
    });
    assert!(started.elapsed() < NEVER, "the query did not end the wait");
    assert!(!inbox.loop_waits());
    // Unanswered here (no loop): it timed out, and is still counted as waiting.
    let asked = asker.expect("asked").join().expect("asker thread");
    assert!(asked.is_err(), "{asked:?}");
    assert!(inbox.any_waiting());

    // A query already waiting skips the wait.
    let started = Instant::now();
    idle.wait(NEVER, &inbox);
    assert!(started.elapsed() < NEVER);
}
