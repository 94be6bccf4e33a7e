export class MutualClient {}; export class MutualAuthError extends Error {}
