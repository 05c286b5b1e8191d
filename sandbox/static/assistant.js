'use strict';
// The assistant pages. Model output is untrusted: markdown is turned into DOM nodes with text
// content only, never parsed as HTML, and links must be http(s).
document.addEventListener('DOMContentLoaded', () => {
  const page = document.body.dataset.page;

  async function start(path) {
    try {
      const conversation = await sandbox.api(path, { method: 'POST', body: '{}' });
      location.href = `/assistants/${conversation.id}/`;
    } catch (error) {
      sandbox.notify(error.message, 'error');
    }
  }
  document.getElementById('newConversation')?.addEventListener('click', () => start('/api/assistants/conversations/'));
  document.getElementById('startConversation')?.addEventListener('click', () => start('/api/assistants/conversations/'));
  document.getElementById('startAnonymous')?.addEventListener('click', () => start('/api/assistants/anonymous/'));
  if (page !== 'assistant-chat') return;

  const id = document.body.dataset.conversationId;
  const base = document.body.dataset.anonymous === 'true' ? `/api/assistants/anonymous/${id}` : `/api/assistants/conversations/${id}`;
  const box = document.getElementById('messages');
  const input = document.getElementById('chatInput');
  const send = document.getElementById('sendButton');
  const stop = document.getElementById('stopButton');
  const shown = new Set();
  const streams = new Map(); // user message id -> {node, text}
  const answered = new Set(); // user message ids whose answer this page streamed to its end

  function node(tag, className, text) {
    const element = document.createElement(tag);
    if (className) element.className = className;
    if (text !== undefined) element.textContent = text;
    return element;
  }

  // `code`, **bold**, *emphasis* and [text](https://…) inside one line.
  function inline(text, parent) {
    const pattern = /(`[^`]+`)|(\*\*[^*]+\*\*)|(\*[^*\s][^*]*\*)|\[([^\]]+)\]\((https?:\/\/[^\s)]+)\)/g;
    let last = 0;
    for (const match of text.matchAll(pattern)) {
      parent.append(text.slice(last, match.index));
      if (match[1]) parent.append(node('code', '', match[1].slice(1, -1)));
      else if (match[2]) parent.append(node('strong', '', match[2].slice(2, -2)));
      else if (match[3]) parent.append(node('em', '', match[3].slice(1, -1)));
      else {
        const link = node('a', '', match[4]);
        link.href = match[5];
        link.rel = 'noopener noreferrer';
        link.target = '_blank';
        parent.append(link);
      }
      last = match.index + match[0].length;
    }
    parent.append(text.slice(last));
  }

  // Paragraphs, bullet lists, headings and fenced code; an unclosed fence (mid-stream) is code.
  function markdown(text) {
    const out = document.createDocumentFragment();
    text.split('```').forEach((part, index) => {
      if (index % 2 === 1) {
        const newline = part.indexOf('\n');
        const code = node('code', '', newline >= 0 ? part.slice(newline + 1) : part);
        const pre = node('pre');
        pre.append(code);
        out.append(pre);
        return;
      }
      for (const block of part.split(/\n{2,}/)) {
        const lines = block.split('\n').filter((line) => line.trim());
        if (lines.length === 0) continue;
        if (lines.every((line) => /^\s*[-*] /.test(line))) {
          const list = node('ul');
          for (const line of lines) { const item = node('li'); inline(line.replace(/^\s*[-*] /, ''), item); list.append(item); }
          out.append(list);
        } else if (lines.length === 1 && /^#{1,4} /.test(lines[0])) {
          const heading = node('h4');
          inline(lines[0].replace(/^#+ /, ''), heading);
          out.append(heading);
        } else {
          const paragraph = node('p');
          lines.forEach((line, i) => { if (i) paragraph.append(node('br')); inline(line, paragraph); });
          out.append(paragraph);
        }
      }
    });
    return out;
  }

  function bubble(kind) {
    const element = node('div', `message ${kind}`);
    element.append(node('div', 'content'));
    box.append(element);
    box.scrollTop = box.scrollHeight;
    return element;
  }

  function show(message) {
    if (shown.has(message.id)) return;
    shown.add(message.id);
    const element = bubble(message.messageType === 'user' ? 'mine' : 'assistant');
    element.querySelector('.content').replaceChildren(markdown(message.content));
  }

  function busy(on) {
    send.disabled = on;
    stop.hidden = !on;
  }

  function streaming({ content, messageId }) {
    let stream = streams.get(messageId);
    if (!stream) {
      stream = { element: bubble('assistant streaming'), text: '' };
      streams.set(messageId, stream);
      busy(true);
    }
    stream.text += content;
    const target = stream.element.querySelector('.content');
    target.replaceChildren(markdown(stream.text), node('span', 'cursor', '▍'));
    box.scrollTop = box.scrollHeight;
  }

  // The whole answer so far, after a reconnect or on a page opened mid-answer: it replaces what
  // the page had of that answer; the pieces that follow continue it.
  function answerSoFar({ content, messageId }) {
    let stream = streams.get(messageId);
    if (!stream) {
      stream = { element: bubble('assistant streaming'), text: '' };
      streams.set(messageId, stream);
    }
    busy(true);
    stream.text = '';
    streaming({ content, messageId });
  }

  // Saved replies of answers this page streamed are shown already; an answer that ended while
  // the page was away is saved, and the saved reply replaces its unfinished bubble.
  function settle(messages) {
    messages.forEach((message, index) => {
      const reply = messages[index + 1];
      if (message.messageType !== 'user' || !reply || reply.messageType !== 'assistant') return;
      if (answered.has(message.id)) shown.add(reply.id);
      const stream = streams.get(message.id);
      if (!stream) return;
      stream.text = reply.content;
      shown.add(reply.id);
      finish(message.id);
    });
  }

  function retitle({ conversationId, title }) {
    const text = title || 'New Conversation';
    for (const link of document.querySelectorAll('a[data-conversation]')) {
      if (link.dataset.conversation === conversationId) link.textContent = text;
    }
    if (conversationId !== id) return;
    document.getElementById('conversationTitle').textContent = text;
    document.title = `${text} · AI Assistant`;
  }

  function finish(messageId, error) {
    const stream = streams.get(messageId);
    if (stream) {
      stream.element.classList.remove('streaming');
      stream.element.querySelector('.content').replaceChildren(markdown(stream.text));
      streams.delete(messageId);
      answered.add(messageId);
    }
    if (error) bubble('assistant error').querySelector('.content').textContent = error;
    busy(false);
  }

  async function loadMessages() {
    try {
      const page = await sandbox.api(`${base}/messages/?limit=100`);
      settle(page.results);
      for (const message of page.results) show(message);
    } catch (error) {
      sandbox.notify(`Could not load messages: ${error.message}`, 'error');
    }
  }

  let connections = 0;
  const live = sandbox.live(`/ws/assistants/${id}/`, {
    onStatus(state) {
      sandbox.showStatus(state);
      // Back after a drop: an answer that ended meanwhile is only in the saved messages.
      if (state === 'connected' && ++connections > 1 && streams.size) loadMessages();
    },
    onMessage({ action, payload }) {
      if (action === 'new_assistant_message') show(payload);
      else if (action === 'answer_so_far') answerSoFar(payload);
      else if (action === 'conversation_title') retitle(payload);
      else if (action === 'streaming') streaming(payload);
      else if (action === 'complete_streaming') finish(payload.messageId);
      else if (action === 'assistant_error') finish(Number(payload.messageId), payload.content);
    },
  });

  document.getElementById('chatForm').addEventListener('submit', async (event) => {
    event.preventDefault();
    const content = input.value.trim();
    if (!content || send.disabled) return;
    busy(true);
    try {
      show(await sandbox.api(`${base}/messages/`, { method: 'POST', body: JSON.stringify({ content }) }));
      input.value = '';
    } catch (error) {
      sandbox.notify(error.message, 'error');
      busy(false);
    }
  });
  input.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey) {
      event.preventDefault();
      document.getElementById('chatForm').requestSubmit();
    }
  });
  stop.addEventListener('click', () => live.socket.send(JSON.stringify({ action: 'stop_generation' })));
  loadMessages();
});
