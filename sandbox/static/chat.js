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
    const seen = new Set();

    function addMessageToUI(message) {
      if (seen.has(message.id)) return;
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
    }
    async function loadMessages() {
      try {
        const page = await sandbox.api(`/api/chat/${groupId}/messages/?limit=50`);
        document.getElementById('loading')?.remove();
        if (page.results.length === 0 && seen.size === 0) {
          const empty = document.createElement('p');
          empty.className = 'muted empty';
          empty.textContent = 'No messages yet. Start the conversation!';
          box.appendChild(empty);
        }
        for (const message of page.results.reverse()) addMessageToUI(message);
      } catch (error) {
        sandbox.notify(`Could not load messages: ${error.message}`, 'error');
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
    loadMessages();
    sandbox.live(`/ws/chat/${groupId}/`, {
      onStatus: sandbox.showStatus,
      onMessage({ action, payload }) {
        if (action === 'member_message') addMessageToUI(payload);
        else if (action === 'member_message_edited') {
          const node = box.querySelector(`[data-message-id="${payload.id}"]`);
          if (node) {
            node.querySelector('.content').textContent = payload.content;
            node.querySelector('.time').textContent = `${payload.formattedTime} (edited)`;
          }
        } else if (action === 'member_message_deleted') box.querySelector(`[data-message-id="${payload.id}"]`)?.remove();
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
