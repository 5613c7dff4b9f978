// What a client may subscribe to and have kept for as long as it lives (in Redis too, with several
// instances): the URIs of a session (resources/subscribe), and of one 2026-07-28 listen.

export const MAX_SUBSCRIPTIONS = 1_000;
/** The URIs' length in all, in UTF-16 units: 1,000 URIs of 256 characters on average. */
export const MAX_SUBSCRIBED_CHARS = 256 * 1024;

export const TOO_MANY_SUBSCRIPTIONS = `Too many subscriptions: at most ${MAX_SUBSCRIPTIONS} URIs of ${MAX_SUBSCRIBED_CHARS} characters in all; unsubscribe from some first`;
