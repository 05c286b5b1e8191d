struct NotATopic;

struct HubConsumer;

#[chanx::consumer(topics = [NotATopic])]
impl HubConsumer {}

fn main() {}
