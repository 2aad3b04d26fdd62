// The site's service worker, registered by each page: the app shell for offline use, and the
// engine's host. A rebuilt site brings a new service worker, which waits until every tab of the
// site has closed; the page offers to switch now (templates/_loader.html's update notice).
// Shared by the chat and the completion page.

import { TAKE_OVER } from '../host_protocol.js';

/**
 * Register sw.js; `notice`: the .update element to show when a new version waits;
 * `beforeUpdate`: an async function run before the switch (e.g. stop a running reply).
 */
export function registerServiceWorker(notice, beforeUpdate) {
  // A module service worker (it imports the engine). Without one the site still works online;
  // the engine then runs in a dedicated worker.
  navigator.serviceWorker?.register('sw.js', { type: 'module' }).then((registration) => offerUpdates(registration, notice, beforeUpdate), (error) => {
    console.warn('No offline support: the service worker did not register.', error);
  });
}

// The new worker takes over, and the page reloads under it.
function offerUpdates(registration, notice, beforeUpdate) {
  const offer = (worker) => {
    if (!navigator.serviceWorker.controller) return; // a first install, not an update
    notice.hidden = false;
    notice.querySelector('.apply-update').onclick = async () => {
      await beforeUpdate();
      navigator.serviceWorker.addEventListener('controllerchange', () => location.reload());
      worker.postMessage({ op: TAKE_OVER });
    };
  };
  if (registration.waiting) offer(registration.waiting);
  registration.addEventListener('updatefound', () => {
    const worker = registration.installing;
    worker?.addEventListener('statechange', () => {
      if (worker.state === 'installed') offer(worker);
    });
  });
}
