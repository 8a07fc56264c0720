// Paired-benchmark statistics shared by bench/paired.mjs, bench/versus.mjs and bench/attribution: quantiles, and the
// 95 % confidence interval of the median paired ratio — percentile bootstrap, 2000 resamples of the pairs, with a
// fixed-seed generator so a table can be recomputed from the same pairs. It says how large an effect the run can rule
// out — the question a "≤ 3 %" target asks — which the interquartile range of single pairs does not.
export const sorted = (a) => [...a].sort((x, y) => x - y);
export const quantile = (a, p) => sorted(a)[Math.min(a.length - 1, Math.floor(p * a.length))];
export const median = (a) => quantile(a, 0.5);

export function bootstrapMedianCi(values, resamples = 2000) {
  let seed = 0x9e3779b9;
  const rand = () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const medians = [];
  for (let i = 0; i < resamples; i++) medians.push(median(values.map(() => values[Math.floor(rand() * values.length)])));
  return [quantile(medians, 0.025), quantile(medians, 0.975)];
}

export const pct = (ratio) => `${ratio >= 1 ? '+' : ''}${((ratio - 1) * 100).toFixed(1)} %`;
