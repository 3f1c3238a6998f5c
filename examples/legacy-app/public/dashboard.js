// The vendor's dashboard: the open orders, then each new one and each change as it comes.
const list = document.getElementById('orders');

function show(order) {
  let item = document.querySelector(`li[data-id="${order.id}"]`);
  if (!item) {
    item = document.createElement('li');
    item.dataset.id = order.id;
    list.append(item);
  }
  item.textContent = order.item;
  const status = document.createElement('span');
  status.className = 'status';
  status.textContent = order.status;
  item.append(status);
}

function listen(vendorId) {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const ws = new WebSocket(`${scheme}://${location.host}/ws?vendorId=${vendorId}`);
  ws.onopen = () => {
    document.getElementById('connection').textContent = 'live';
  };
  ws.onmessage = (message) => {
    const data = JSON.parse(message.data);
    switch (data.type) {
      case 'NEW_ORDER':
      case 'ORDER_UPDATE':
        show(data.order);
        break;
    }
  };
  ws.onclose = () => {
    document.getElementById('connection').textContent = 'reconnecting';
    setTimeout(() => listen(vendorId), 1000);
  };
}

async function start(vendorId) {
  document.getElementById('login').hidden = true;
  document.getElementById('title').hidden = false;
  const orders = await (await fetch('/api/orders')).json();
  for (const order of orders) show(order);
  listen(vendorId);
}

document.getElementById('login').addEventListener('submit', async (event) => {
  event.preventDefault();
  const response = await fetch('/api/login', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({
      vendorId: document.getElementById('vendor').value,
      password: document.getElementById('password').value,
    }),
  });
  if (response.ok) start((await response.json()).id);
});

fetch('/api/me').then(async (response) => {
  if (response.ok) start((await response.json()).vendorId);
});
