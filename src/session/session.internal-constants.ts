/** Token of the resolved options (defaults applied, validated): what the library's providers read. */
export const RESOLVED_SESSION_OPTIONS = Symbol('nestjs-typed-session:resolved-options');
