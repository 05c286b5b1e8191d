'use strict';
// The account pages' forms post JSON to the accounts API: the names, a password change (the
// answer carries this browser's new session cookies), a reset request, and a reset link's new
// password. Each form shows the envelope's details when refused.
document.addEventListener('DOMContentLoaded', () => {
  function wire(id, method, path, fields, done, extra = () => ({})) {
    const form = document.getElementById(id);
    if (!form) return;
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const error = form.querySelector('[data-error]');
      error.textContent = '';
      const body = { ...extra(form), ...Object.fromEntries(fields.map((name) => [name, form.elements[name].value])) };
      try {
        done(form, await sandbox.api(path, { method, body: JSON.stringify(body) }));
      } catch (failure) {
        error.textContent = failure.message;
      }
    });
  }
  wire('profileForm', 'PATCH', '/api/accounts/user', ['firstName', 'lastName'], (form, user) => {
    form.elements.firstName.value = user.firstName;
    form.elements.lastName.value = user.lastName;
    sandbox.notify('Your names were saved.', 'success');
  });
  wire('passwordChangeForm', 'POST', '/api/accounts/password/change', ['oldPassword', 'newPassword1', 'newPassword2'], (form, answer) => {
    form.reset();
    sandbox.notify(answer.detail, 'success');
  });
  wire('passwordResetForm', 'POST', '/api/accounts/password/reset', ['email'], (form, answer) => {
    const sent = document.getElementById('resetSent');
    sent.textContent = `${answer.detail} If an account has this address, the email is on its way.`;
    sent.hidden = false;
    form.hidden = true;
  });
  wire('passwordResetConfirmForm', 'POST', '/api/accounts/password/reset/confirm', ['newPassword1', 'newPassword2'], () => {
    sessionStorage.setItem('chat_notification', 'Your password was reset: log in with the new one.');
    location.href = '/login';
  }, (form) => ({ uid: form.dataset.uid, token: form.dataset.token }));
});
