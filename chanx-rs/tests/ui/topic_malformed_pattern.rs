#[derive(Default)]
struct RoomTopic;

#[chanx::topic(pattern = "room:{name")]
impl RoomTopic {}

#[derive(Default)]
struct PairTopic;

#[chanx::topic(pattern = "pair:{a}{b}")]
impl PairTopic {}

#[derive(Default)]
struct NoPattern;

#[chanx::topic]
impl NoPattern {}

fn main() {}
