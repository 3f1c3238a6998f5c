import type { Browser, Page } from 'playwright-core';

/** A vendor's dashboard (the app's own, unchanged page), logged in and live. */
export async function openDashboard(
  browser: Browser,
  url: string,
  vendor: { id: number; password: string },
): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  await page.goto(url);
  await page.fill('#vendor', String(vendor.id));
  await page.fill('#password', vendor.password);
  await page.click('button');
  await page.waitForFunction(() => document.getElementById('connection')?.textContent === 'live');
  return page;
}

/** The items the dashboard lists, by order id. */
export function shownOrders(page: Page): Promise<Array<{ id: string; text: string }>> {
  return page.evaluate(() =>
    [...document.querySelectorAll('#orders li')].map((li) => ({
      id: (li as HTMLElement).dataset.id ?? '',
      text: li.textContent ?? '',
    })),
  );
}

/** Places an order the way a customer's phone does: a plain POST, no login. */
export async function placeOrder(url: string, vendorId: number, item: string): Promise<number> {
  const response = await fetch(`${url}/api/vendors/${vendorId}/orders`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ item }),
  });
  if (response.status !== 201) throw new Error(`order answered ${response.status}`);
  return ((await response.json()) as { id: number }).id;
}
