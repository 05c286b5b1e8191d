#[derive(Default)]
struct RoomTopic;

#[chanx::topic(pattern = "room:{name}")]
impl RoomTopic {}

#[derive(Default)]
struct LobbyTopic;

#[chanx::topic(pattern = "room:{id}")]
impl LobbyTopic {}

struct HubConsumer;

#[chanx::consumer(topics = [RoomTopic, LobbyTopic])]
impl HubConsumer {}

fn main() {}
