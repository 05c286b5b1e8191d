'use strict';
// The login and registration forms post JSON to the accounts API, which sets the session
// cookies; then the browser goes where it was headed.
document.addEventListener('DOMContentLoaded', () => {
  // The server only offers paths of this site; checked again here, as the browser resolves it.
  const target = new URL(document.body.dataset.next || '/chat/', location.href);
  const next = target.origin === location.origin ? target.href : '/chat/';
  function wire(id, path, fields) {
    const form = document.getElementById(id);
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const error = form.querySelector('[data-error]');
      error.textContent = '';
      const body = Object.fromEntries(fields.map((name) => [name, form.elements[name].value]));
      try {
        await sandbox.api(path, { method: 'POST', body: JSON.stringify(body) });
        location.href = next;
      } catch (failure) {
        error.textContent = failure.message;
      }
    });
  }
  wire('loginForm', '/api/accounts/login', ['email', 'password']);
  wire('registerForm', '/api/accounts/registration', ['email', 'password1', 'password2']);
});
