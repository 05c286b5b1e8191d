// `presence = Entry` without the hook that builds each entry would list nobody.
#[derive(Default)]
struct RoomTopic;

#[chanx::topic(pattern = "room:{name}", presence = String)]
impl RoomTopic {}

#[derive(Default)]
struct LobbyTopic;

#[chanx::topic(pattern = "lobby:{name}", presence = String)]
impl chanx::Topic for LobbyTopic {}

fn main() {}
