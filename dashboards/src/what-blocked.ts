// "What blocked": which code, which routes and which GraphQL operations were
// running when the loop stalled, ranked by stalled seconds, plus stall durations with
// exemplars that link to the trace of the stalled request.
import { dashboard, Ids, row, sel, table, timeseries } from './common.ts';

const RI = '$__rate_interval';
const CULPRIT_TIME = 'loopwatch_eventloop_stall_culprit_time_seconds_total';
const CULPRIT_COUNT = 'loopwatch_eventloop_stall_culprit_count_total';
const BY_OPERATION = 'graphql_operation_type, graphql_operation_name';
/** Stalls outside GraphQL have neither label: one row for them, named, so the share GraphQL stalls take shows. */
const byOperation = (inner: string) => `label_replace(sum by (${BY_OPERATION}) (${inner}), "graphql_operation_type", "not GraphQL", "graphql_operation_type", "")`;
const OPERATION_LEGEND = '{{graphql_operation_type}} {{graphql_operation_name}}';

export function whatBlockedDashboard() {
  const ids = new Ids();
  return dashboard(
    'loopwatch-what-blocked',
    'loopwatch / What blocked',
    'Stall attribution: the functions and HTTP routes that held the event loop, and how long stalls last.',
  )
    .withRow(row(ids, 'Culprits over the selected range'))
    .withPanel(
      table(ids, {
        title: 'Top culprits by stalled seconds',
        description:
          'Functions (with file:line) that were running when the loop stalled, ranked by the total stalled time they caused over the dashboard time range. "other" collects everything beyond the top 20 per thread.',
        unit: 's',
        queries: [
          {
            expr: `topk(20, sum by (loopwatch_culprit) (increase(${CULPRIT_TIME}${sel()}[$__range])))`,
            legend: '{{loopwatch_culprit}}',
          },
        ],
      }),
    )
    .withPanel(
      table(ids, {
        title: 'Top routes by stalled seconds',
        description: 'HTTP routes whose requests were running during stalls, ranked by total stalled time over the dashboard time range.',
        unit: 's',
        queries: [
          {
            expr: `topk(20, sum by (http_route) (increase(${CULPRIT_TIME}${sel()}[$__range])))`,
            legend: '{{http_route}}',
          },
        ],
      }),
    )
    .withPanel(
      table(ids, {
        title: 'Top GraphQL operations by stalled seconds',
        description:
          'GraphQL operations (type and name, with the loopwatchYoga()/loopwatchApollo() plugin) whose resolvers were running during stalls, ranked by total stalled time over the dashboard time range. An anonymous operation shows its type alone; "other" collects the names beyond 20 per thread; "not GraphQL" is every stall outside an operation.',
        unit: 's',
        queries: [
          {
            expr: `topk(20, ${byOperation(`increase(${CULPRIT_TIME}${sel()}[$__range])`)})`,
            legend: OPERATION_LEGEND,
          },
        ],
      }),
    )
    .withRow(row(ids, 'Culprits over time'))
    .withPanel(
      timeseries(ids, {
        title: 'Stalled time by culprit',
        description:
          'Seconds stalled per second, split by the function that blocked (top 10), summed over the selected instances and threads: 1 means one thread stalled all the time.',
        unit: 's',
        queries: [
          {
            expr: `topk(10, sum by (loopwatch_culprit) (rate(${CULPRIT_TIME}${sel()}[${RI}])))`,
            legend: '{{loopwatch_culprit}}',
          },
        ],
      }),
    )
    .withPanel(
      timeseries(ids, {
        title: 'Stalls per minute by culprit',
        description: 'How often each function stalled the loop (top 10), per minute.',
        unit: 'short',
        queries: [
          {
            expr: `topk(10, sum by (loopwatch_culprit) (rate(${CULPRIT_COUNT}${sel()}[${RI}]))) * 60`,
            legend: '{{loopwatch_culprit}}',
          },
        ],
      }),
    )
    .withPanel(
      timeseries(ids, {
        title: 'Stalled time by route',
        description:
          'Seconds stalled per second, split by the HTTP route whose request was running (top 10), summed over the selected instances and threads: 1 means one thread stalled all the time.',
        unit: 's',
        queries: [
          {
            expr: `topk(10, sum by (http_route) (rate(${CULPRIT_TIME}${sel()}[${RI}])))`,
            legend: '{{http_route}}',
          },
        ],
      }),
    )
    .withPanel(
      timeseries(ids, {
        title: 'Stalled time by GraphQL operation',
        description:
          'Seconds stalled per second, split by the GraphQL operation (type and name) whose resolvers were running (top 10), summed over the selected instances and threads; "not GraphQL" is every stall outside an operation.',
        unit: 's',
        queries: [
          {
            expr: `topk(10, ${byOperation(`rate(${CULPRIT_TIME}${sel()}[${RI}])`)})`,
            legend: OPERATION_LEGEND,
          },
        ],
      }),
    )
    .withRow(row(ids, 'Stall durations'))
    .withPanel(
      timeseries(ids, {
        title: 'Stall duration p50 / p99',
        description:
          'Stall durations across the selected instances. Exemplar dots carry the trace_id of a stalled request: click one to open the trace in Tempo.',
        unit: 's',
        queries: [
          {
            expr: `histogram_quantile(0.5, sum by (le) (rate(loopwatch_eventloop_stall_duration_seconds_bucket${sel()}[${RI}])))`,
            legend: 'p50',
            exemplar: true,
          },
          {
            expr: `histogram_quantile(0.99, sum by (le) (rate(loopwatch_eventloop_stall_duration_seconds_bucket${sel()}[${RI}])))`,
            legend: 'p99',
            exemplar: true,
          },
        ],
      }),
    )
    .withPanel(
      timeseries(ids, {
        title: 'Stalls by duration bucket',
        description: 'Stalls per minute by upper duration bound (le), showing whether stalls are many short ones or few long ones. Exemplars enabled.',
        unit: 'short',
        queries: [
          {
            expr: `sum by (le) (rate(loopwatch_eventloop_stall_duration_seconds_bucket${sel()}[${RI}])) * 60`,
            legend: 'le {{le}}',
            exemplar: true,
          },
        ],
      }),
    );
}
