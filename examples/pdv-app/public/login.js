import { ApiError, api, localUrl } from './api.js';

const form = document.getElementById('login-form');
const message = document.querySelector('[data-testid="login-error"]');
const submit = document.querySelector('[data-testid="login-submit"]');
const next = localUrl(new URLSearchParams(location.search).get('next')) ?? '/cashier';

const MESSAGES = {
  invalid_credentials: 'Wrong email or password.',
  rate_limited: 'Too many failed attempts. Wait a few minutes and try again.',
};

function showError(text) {
  message.textContent = text;
  message.hidden = false;
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const email = form.email.value.trim();
  const password = form.password.value;
  if (!email || !password) {
    showError('Enter your email and password.');
    return;
  }
  message.hidden = true;
  submit.disabled = true;
  try {
    await api('POST', '/api/login', { email, password });
    location.assign(next);
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    const text =
      error.status === 429 ? MESSAGES.rate_limited : (MESSAGES[error.code] ?? error.message);
    showError(text);
    submit.disabled = false;
    form.password.select();
  }
});

// The demo buttons fill the form; the password is the same for every demo account.
for (const button of document.querySelectorAll('.demo-account')) {
  button.addEventListener('click', () => {
    form.email.value = button.dataset.email;
    form.password.value = 'demo-pdv';
    submit.focus();
  });
}

// Already logged in (a bookmark of /login, the back button): straight on.
fetch('/api/me', { credentials: 'same-origin' }).then((response) => {
  if (response.ok) location.replace(next);
});
form.email.focus();
