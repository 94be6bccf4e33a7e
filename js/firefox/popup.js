// The extension's own popup: the only place the password is typed (anchored
// to the toolbar, where a page cannot draw). It is sent to the background,
// turned into pi at once and dropped; this page keeps nothing.
const params = new URLSearchParams(location.search);
const $ = (id) => document.getElementById(id);

async function tabId() {
  if (params.has('tab')) return Number(params.get('tab'));
  const [tab] = await browser.tabs.query({ active: true, currentWindow: true });
  return tab ? tab.id : -1;
}

async function refresh() {
  const id = await tabId();
  const state = await browser.runtime.sendMessage({ type: 'state', tabId: id });
  const status = $('status');
  status.className = 'status';
  if (state.verified) {
    status.textContent = `mutually authenticated as ${state.verified.user} at ${state.verified.realm}`;
    status.classList.add('verified');
  } else if (state.blocked) {
    status.textContent = 'blocked: the server did not prove knowledge of the verifier';
    status.classList.add('blocked');
  } else if (state.login) {
    status.textContent = 'this page asks for a login';
    status.classList.add('login');
  } else {
    status.textContent = 'not mutually authenticated';
  }
  $('login').hidden = !state.login;
  if (state.login) $('realm').textContent =
    `Realm "${state.login.realm}" at ${state.login.origin} (auth-scope ${state.login.scope})`;
  $('logout').hidden = state.loggedIn.length === 0;
  $('sessions').textContent = state.loggedIn.length
    ? `Logged in: ${state.loggedIn.map((c) => `${c.user} at ${c.realm}`).join(', ')}` : '';
  return state;
}

$('login').addEventListener('submit', async (event) => {
  event.preventDefault();
  const user = $('user').value;
  const password = $('password').value;
  $('password').value = '';
  const r = await browser.runtime.sendMessage({ type: 'login', tabId: await tabId(), user, password });
  $('error').hidden = r.ok;
  $('error').textContent = r.ok ? '' : r.error;
  if (r.ok) document.body.dataset.loggedIn = 'true';
  await refresh();
});

$('logout').addEventListener('click', async () => {
  await browser.runtime.sendMessage({ type: 'logout' });
  document.body.dataset.loggedOut = 'true';
  await refresh();
});

refresh();
setInterval(refresh, 500);
