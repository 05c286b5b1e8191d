'use strict';
// Helpers shared by the sandbox pages: notices, JSON requests that renew an expired session,
// and sockets that reconnect after a drop.
const sandbox = (() => {
  function notify(text, level = 'info') {
    const box = document.getElementById('notices');
    const notice = document.createElement('div');
    notice.className = `notice ${level}`;
    notice.textContent = text;
    box.appendChild(notice);
    setTimeout(() => notice.remove(), 5000);
  }

  // Each refresh token works once (the server rotates it, and treats a later second use as theft
  // and signs the whole login out), so the page's sockets and requests share one renewal at a
  // time. Another tab renewing at the same moment wins with the same cookie; the server refuses
  // this one without revoking anything, and the retry a second later sends the winner's token.
  let renewing = null;
  function renew() {
    const attempt = () => fetch('/api/accounts/token/refresh', { method: 'POST', credentials: 'same-origin' })
      .then((response) => response.ok, () => false);
    renewing ??= attempt()
      .then((ok) => ok || new Promise((resolve) => setTimeout(resolve, 1000)).then(attempt))
      .finally(() => { renewing = null; });
    return renewing;
  }

  // A JSON request; an expired access token is renewed once. Errors carry the envelope's details.
  async function api(path, options = {}) {
    const headers = { Accept: 'application/json', ...(options.body ? { 'Content-Type': 'application/json' } : {}) };
    const init = { credentials: 'same-origin', ...options, headers };
    let response = await fetch(path, init);
    if (response.status === 401 && !path.startsWith('/api/accounts/') && await renew()) response = await fetch(path, init);
    const data = response.status === 204 ? null : await response.json().catch(() => null);
    if (!response.ok) {
      const error = new Error(data?.errors?.map((e) => e.detail).join(' ') || response.statusText);
      error.status = response.status;
      throw error;
    }
    return data;
  }

  // A socket to `path` that reconnects with backoff after a drop, renews the session after a
  // 4401, and gives up after any other refusal (4xxx), which would only repeat.
  function live(path, { onMessage, onStatus = () => {} }) {
    let socket;
    let delay = 1000;
    function connect() {
      socket = new WebSocket(`${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${path}`);
      onStatus('connecting');
      socket.onopen = () => { delay = 1000; };
      socket.onmessage = (event) => {
        let frame;
        try { frame = JSON.parse(event.data); } catch { return; }
        if (frame.action === 'authentication') {
          onStatus(frame.payload.statusCode === 200 ? 'connected' : 'refused');
          return;
        }
        onMessage(frame);
      };
      socket.onclose = async (event) => {
        onStatus('disconnected');
        if (event.code === 4401 && await renew()) { setTimeout(connect, 100); return; }
        if (event.code >= 4000 && event.code < 5000) return;
        setTimeout(connect, delay);
        delay = Math.min(delay * 2, 10000);
      };
    }
    connect();
    return { get socket() { return socket; } };
  }

  function showStatus(state) {
    const badge = document.getElementById('connectionStatus');
    if (badge) { badge.textContent = state; badge.dataset.state = state; }
  }

  document.addEventListener('DOMContentLoaded', () => {
    const stored = sessionStorage.getItem('chat_notification');
    if (stored) { sessionStorage.removeItem('chat_notification'); notify(stored, 'warning'); }
    for (const notice of document.querySelectorAll('#notices .notice')) setTimeout(() => notice.remove(), 5000);
    document.getElementById('logout')?.addEventListener('click', async () => {
      try { await api('/api/accounts/logout', { method: 'POST' }); } catch { /* signed out either way */ }
      location.href = '/login';
    });
  });

  return { notify, api, live, showStatus };
})();
