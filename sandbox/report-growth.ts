// How the simulators' reporting endpoints make a published item's numbers grow with their clock: most
// activity comes early and levels off towards a final value, as the platforms' own reports do.
const hourMs = 3_600_000;

/** The part of `final` reached `elapsedMs` after publication; halves what is left every `halfLifeHours`. */
export function grown(final: number, elapsedMs: number, halfLifeHours = 6): number {
  if (elapsedMs <= 0) return 0;
  return Math.floor(final * (1 - 2 ** (-elapsedMs / (halfLifeHours * hourMs))));
}
