//! The presence messages of a topic that keeps presence: `presence` (the client's request),
//! `presence_state`, `presence_join` and `presence_leave`, each typed by the topic's
//! [`PresenceEntry`](crate::Topic::PresenceEntry) (docs/topics.md, "Presence").
//!
//! Their schemas are named by the topic's type (`RoomTopicPresenceState`, …), since two topics
//! may list different entry types; the request, which carries no entry, is one `PresenceRequest`.

use serde_json::{Value, json};

use super::{Builder, message_key, pydantic_style, schema_generator};
use crate::{ConsumerInfo, PresenceInfo};

/// The component message keys of one topic's presence messages.
pub(super) struct PresenceMessages {
    pub(super) request: String,
    pub(super) state: String,
    pub(super) join: String,
    pub(super) leave: String,
}

/// A message schema as the builder writes them: `action` as a constant, then `payload`.
fn message_schema(title: &str, action: &str, description: &str, payload: Value) -> Value {
    json!({
        "type": "object",
        "properties": {
            "action": {"const": action, "default": action, "title": "Action", "type": "string"},
            "payload": payload,
        },
        "required": ["payload"],
        "description": description,
        "title": title,
    })
}

fn schema_ref(name: &str) -> String {
    format!("#/components/schemas/{name}")
}

impl Builder {
    /// Registers a schema under `name`, or under `{prefix}{name}` when another schema already
    /// has that name; the name it got.
    fn named_schema(&mut self, name: &str, prefix: &str, mut schema: Value) -> String {
        let name = match self.schemas.get(name) {
            Some(existing) if *existing != schema => format!("{prefix}{name}"),
            _ => name.to_owned(),
        };
        if let Value::Object(object) = &mut schema {
            object.insert("title".into(), Value::String(name.clone()));
        }
        self.schemas.insert(name.clone(), schema);
        name
    }

    /// The schema of an entry: a `$ref` to its component when it is a named object (as a
    /// struct's is), else inline (a string, say).
    fn entry_schema(&mut self, topic: &ConsumerInfo, presence: &PresenceInfo) -> Value {
        let mut generator = schema_generator();
        let mut schema = (presence.entry_schema)(&mut generator).to_value();
        for (name, mut sub) in generator.take_definitions(true) {
            if let Value::Object(object) = &mut sub {
                object.entry("title").or_insert_with(|| Value::String(name.clone()));
            }
            pydantic_style(&mut sub);
            self.schemas.entry(name).or_insert(sub);
        }
        let is_object = schema.get("properties").is_some() || schema.get("type") == Some(&json!("object"));
        if is_object && let Value::Object(object) = &mut schema {
            object.entry("title").or_insert_with(|| Value::String((presence.entry_name)().into_owned()));
        }
        pydantic_style(&mut schema);
        let title = schema.get("title").and_then(Value::as_str).map(str::to_owned);
        match title.filter(|_| is_object) {
            Some(title) => {
                let name = self.named_schema(&title, topic.type_name, schema);
                json!({"$ref": schema_ref(&name), "title": "Entry", "description": "What the member is listed with."})
            }
            None => {
                if let Value::Object(object) = &mut schema {
                    object.insert("title".into(), json!("Entry"));
                    object.entry("description").or_insert_with(|| json!("What the member is listed with."));
                }
                schema
            }
        }
    }

    /// Registers the schemas and messages of `topic`'s presence; their message keys.
    pub(super) fn presence_messages(&mut self, topic: &ConsumerInfo, presence: &PresenceInfo) -> PresenceMessages {
        let prefix = topic.type_name;
        let entry = self.entry_schema(topic, presence);
        let member = json!({
            "type": "object",
            "properties": {
                "id": {"type": "string", "title": "Id", "description": "The member's connection (its channel name)."},
                "entry": entry,
            },
            "required": ["id", "entry"],
            "description": "A listed subscriber of the topic.",
        });
        let member = self.named_schema(&format!("{prefix}PresenceMember"), "", member);
        let members = json!({
            "type": "object",
            "properties": {
                "members": {
                    "type": "array",
                    "items": {"$ref": schema_ref(&member)},
                    "maxItems": presence.max_entries,
                    "title": "Members",
                    "description": "Every listed subscriber, in id order.",
                },
            },
            "required": ["members"],
            "description": "The members of the topic.",
        });
        let members = self.named_schema(&format!("{prefix}PresenceMembers"), "", members);
        let member_payload = |what: &str| json!({"$ref": schema_ref(&member), "title": "Payload", "description": what});
        let schemas = [
            (
                "PresenceState",
                "presence_state",
                "The members of the topic: after `subscribed`, and as the answer to `presence`.",
                json!({"$ref": schema_ref(&members), "title": "Payload", "description": "The members."}),
            ),
            (
                "PresenceJoin",
                "presence_join",
                "Another subscriber is listed.",
                member_payload("The member that joined."),
            ),
            (
                "PresenceLeave",
                "presence_leave",
                "A listed subscriber unsubscribed, disconnected, or its process stopped refreshing it.",
                member_payload("The member that left."),
            ),
        ];
        let mut keys = Vec::with_capacity(3);
        for (name, action, description, payload) in schemas {
            let title = format!("{prefix}{name}");
            let name = self.named_schema(&title, "", message_schema(&title, action, description, payload));
            let key = message_key(&name);
            self.messages.insert(key.clone(), name);
            keys.push(key);
        }
        let [state, join, leave]: [String; 3] = keys.try_into().unwrap_or_default();
        let mut request = message_schema(
            "PresenceRequest",
            "presence",
            "Asks for the members of the topic; answered with `presence_state`.",
            json!({"default": null, "title": "Payload", "type": "null"}),
        );
        if let Some(object) = request.as_object_mut() {
            object.remove("required");
        }
        let request_name = self.named_schema("PresenceRequest", "Chanx", request);
        let request = message_key(&request_name);
        self.messages.insert(request.clone(), request_name);
        PresenceMessages { request, state, join, leave }
    }
}
