'use strict';
// The live parts of the chat pages. Everything users wrote is inserted as text, never as HTML.
document.addEventListener('DOMContentLoaded', () => {
  const page = document.body.dataset.page;
  const groupId = Number(document.body.dataset.groupId);
  const localTime = (iso) => { const date = new Date(iso); return isNaN(date) ? iso : date.toLocaleString(); };

  if (page === 'chat-home') {
    const list = document.getElementById('groupChatList');
    for (const time of list.querySelectorAll('[data-time]')) time.textContent = localTime(time.dataset.time);

    function render(chats) {
      list.replaceChildren();
      if (chats.length === 0) {
        const empty = document.createElement('li');
        empty.className = 'empty muted';
        empty.textContent = 'No chats yet. Create one!';
        list.appendChild(empty);
      }
      for (const chat of chats) {
        const item = document.createElement('li');
        item.dataset.groupId = chat.id;
        const link = document.createElement('a');
        link.href = `/chat/${chat.id}/`;
        const title = document.createElement('strong');
        title.className = 'title';
        title.textContent = chat.title;
        link.appendChild(title);
        const time = document.createElement('span');
        time.className = 'muted time';
        time.textContent = localTime(chat.updatedAt);
        const members = document.createElement('span');
        members.className = 'muted members';
        members.textContent = `${chat.memberCount} member${chat.memberCount === 1 ? '' : 's'}`;
        item.append(link, ' ', time);
        if (chat.description) {
          const description = document.createElement('p');
          description.className = 'description';
          description.textContent = chat.description;
          item.appendChild(description);
        }
        item.appendChild(members);
        list.appendChild(item);
      }
    }
    async function reload() {
      try { render((await sandbox.api('/api/chat/?limit=100')).results); } catch (error) { sandbox.notify(error.message, 'error'); }
    }
    document.getElementById('refreshGroupChats').addEventListener('click', reload);
    sandbox.live('/ws/chat/group/', {
      onStatus: sandbox.showStatus,
      onMessage({ action, payload }) {
        if (action === 'group_chat_updated') {
          const item = list.querySelector(`[data-group-id="${payload.groupPk}"]`);
          if (!item) return;
          item.querySelector('.time').textContent = localTime(payload.updatedAt);
          list.prepend(item);
          item.classList.add('highlight');
          setTimeout(() => item.classList.remove('highlight'), 2000);
        } else if (action === 'added_to_group') {
          sandbox.notify(`You were added to group: ${payload.title}`, 'success');
          reload();
        } else if (action === 'removed_from_group') {
          sandbox.notify(`You were removed from group: ${payload.groupTitle}`, 'warning');
          reload();
        }
      },
    });
  }

  function removedFromChat(payload) {
    sessionStorage.setItem('chat_notification', payload.message);
    location.href = payload.redirect;
  }

  if (page === 'chat-room') {
    const box = document.getElementById('messages');
    const template = document.getElementById('messageTemplate');
    const online = document.getElementById('onlineMembers');
    const me = Number(document.body.dataset.userId);
    const seen = new Set();
    const find = (id) => box.querySelector(`[data-message-id="${id}"]`);

    // Adds a message unless it is shown already; says whether it did.
    function addMessageToUI(message) {
      if (seen.has(message.id)) return false;
      seen.add(message.id);
      document.getElementById('loading')?.remove();
      box.querySelector('.empty')?.remove();
      const node = template.content.firstElementChild.cloneNode(true);
      node.classList.toggle('mine', message.isMine);
      node.dataset.messageId = message.id;
      node.querySelector('.sender').textContent = message.isMine ? 'You' : (message.sender?.user ?? 'Former member');
      node.querySelector('.time').textContent = message.isEdited ? `${message.formattedTime} (edited)` : message.formattedTime;
      node.querySelector('.content').textContent = message.content;
      box.appendChild(node);
      box.scrollTop = box.scrollHeight;
      return true;
    }
    function editMessage(message) {
      const node = find(message.id);
      if (!node) return;
      node.querySelector('.content').textContent = message.content;
      node.querySelector('.time').textContent = `${message.formattedTime} (edited)`;
    }

    // The chat's messages come from its topic, `chat:{id}`, whose pushes are numbered (`seq`) in
    // an `epoch`. After a lost connection the page subscribes again from the last push it saw
    // and gets exactly what it missed; when the server no longer has all of it (`recovered:
    // false`, also on the first subscribe), the list is reloaded through the REST API, and the
    // pushes that arrive meanwhile wait for the reload, then apply in order.
    const topic = `chat:${groupId}`;
    const since = { seq: 0, epoch: '' };
    let held = null;
    let reloads = Promise.resolve();
    let loaded = false;
    let replay = null;
    function reload() {
      reloads = reloads.then(async () => {
        held = [];
        try {
          const page = await sandbox.api(`/api/chat/${groupId}/messages/?limit=50`);
          box.replaceChildren();
          seen.clear();
          for (const message of page.results.reverse()) addMessageToUI(message);
          if (page.results.length === 0) {
            const empty = document.createElement('p');
            empty.className = 'muted empty';
            empty.textContent = 'No messages yet. Start the conversation!';
            box.appendChild(empty);
          }
          loaded = true;
        } catch (error) {
          sandbox.notify(`Could not load messages: ${error.message}`, 'error');
        }
        const waiting = held;
        held = null;
        for (const frame of waiting) apply(frame);
      });
    }
    function apply({ action, payload, seq }) {
      let added = false;
      if (action === 'member_message') added = addMessageToUI(payload);
      else if (action === 'member_message_edited') editMessage(payload);
      else if (action === 'member_message_deleted') find(payload.id)?.remove();
      if (replay && added) replay.missed += 1;
      if (replay && seq >= replay.until) {
        const { missed } = replay;
        replay = null;
        if (missed) sandbox.notify(`Reconnected: ${missed} missed message${missed === 1 ? '' : 's'} shown`, 'info');
      }
    }
    function onPush(frame) {
      if (Number.isSafeInteger(frame.seq) && frame.seq > since.seq) since.seq = frame.seq;
      if (held) held.push(frame);
      else apply(frame);
    }
    function onSubscribed({ recovered, seq, epoch }) {
      since.epoch = epoch;
      if (!recovered) {
        since.seq = seq;
        replay = null;
        reload();
      } else if (seq > since.seq) {
        replay = { until: seq, missed: 0 };
      }
    }

    // Who is online: one entry per connection following the topic, shown once per person.
    const connections = new Map();
    function renderOnline() {
      const people = new Map([...connections.values()].map((entry) => [entry.userId, entry.name]));
      online.replaceChildren();
      if (people.size === 0) {
        const none = document.createElement('li');
        none.className = 'muted empty';
        none.textContent = '…';
        online.appendChild(none);
      }
      for (const [userId, name] of [...people].sort((a, b) => a[1].localeCompare(b[1]))) {
        const item = document.createElement('li');
        item.dataset.userId = userId;
        item.textContent = userId === me ? `${name} (you)` : name;
        online.appendChild(item);
      }
    }
    function onPresence(action, payload) {
      if (action === 'presence_state') {
        connections.clear();
        for (const { id, entry } of payload.members) connections.set(id, entry);
      } else if (action === 'presence_join') connections.set(payload.id, payload.entry);
      else connections.delete(payload.id);
      renderOnline();
    }

    function onTopicFrame(frame) {
      const { action, payload } = frame;
      if (action === 'subscribed') onSubscribed(payload ?? {});
      else if (action.startsWith('presence_')) onPresence(action, payload);
      else if (action.startsWith('member_message')) onPush(frame);
      else if (action === 'unsubscribed' || action === 'error') {
        // Refused or ended by the server (the user left the chat): the list stays as it is.
        connections.clear();
        renderOnline();
        if (!loaded) reload();
      }
    }

    document.getElementById('messageForm').addEventListener('submit', async function sendMessage(event) {
      event.preventDefault();
      const input = document.getElementById('messageInput');
      const content = input.value.trim();
      if (!content) return;
      try {
        await sandbox.api(`/api/chat/${groupId}/messages/`, { method: 'POST', body: JSON.stringify({ content }) });
        input.value = '';
      } catch (error) {
        sandbox.notify(error.message, 'error');
      }
    });
    let ref = 0;
    const socket = sandbox.live(`/ws/chat/${groupId}/`, {
      onStatus(state) {
        sandbox.showStatus(state);
        if (state === 'connected') {
          const subscribe = { action: 'subscribe', version: 1, topic, ref: String(++ref), payload: { since } };
          socket.socket.send(JSON.stringify(subscribe));
        } else if (state !== 'connecting') {
          connections.clear();
          renderOnline();
          // No socket to say what to load: show what the API has.
          if (!loaded) reload();
        }
      },
      onMessage(frame) {
        const { action, payload } = frame;
        if (frame.topic === topic) onTopicFrame(frame);
        else if (frame.topic) return;
        // Until the topic is followed, messages come as the chat's plain frames.
        else if (action === 'member_message') addMessageToUI(payload);
        else if (action === 'member_message_edited') editMessage(payload);
        else if (action === 'member_message_deleted') find(payload.id)?.remove();
        else if (action === 'member_added') sandbox.notify(`${payload.user} joined the chat`, 'info');
        else if (action === 'member_removed') sandbox.notify(`${payload.email} left the chat`, 'info');
        else if (action === 'user_removed_from_group') removedFromChat(payload);
      },
    });
  }

  if (page === 'chat-members') {
    for (const form of document.querySelectorAll('form.remove-member')) {
      form.addEventListener('submit', (event) => {
        if (!confirm(`Remove ${form.dataset.email} from this chat?`)) event.preventDefault();
      });
    }
    sandbox.live(`/ws/chat/${groupId}/`, {
      onMessage({ action, payload }) {
        if (action === 'member_added' || action === 'member_removed') location.reload();
        else if (action === 'user_removed_from_group') removedFromChat(payload);
      },
    });
  }
});
