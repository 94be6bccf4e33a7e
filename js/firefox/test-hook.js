// TEST BUILDS ONLY (build.mjs --test-hook; never in the .xpi): WebDriver BiDi
// cannot navigate to moz-extension:// URLs, so a navigation to
// http://mutual-extension-test.invalid/popup opens the popup page as a tab,
// for the tab that last asked for a login (or ?tab=N).
browser.webRequest.onBeforeRequest.addListener((details) => {
  const u = new URL(details.url);
  const tab = u.searchParams.get('tab') || String(globalThis.mutualLoginTab);
  return { redirectUrl: browser.runtime.getURL(`popup.html?tab=${encodeURIComponent(tab)}`) };
}, { urls: ['http://mutual-extension-test.invalid/*'], types: ['main_frame'] }, ['blocking']);
