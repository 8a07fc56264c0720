// Shared building blocks so every dashboard follows the same lint rules:
// $datasource/$job/$instance variables, a description and unit on every
// panel, ${datasource} and a refId on every target, $__rate_interval in rates.
import {
  AnnotationQueryBuilder,
  DashboardBuilder,
  RowBuilder,
  DatasourceVariableBuilder,
  QueryVariableBuilder,
  VariableRefresh,
  VariableSort,
} from '@grafana/grafana-foundation-sdk/dashboard';
import { DataqueryBuilder, PromQueryFormat } from '@grafana/grafana-foundation-sdk/prometheus';
import { PanelBuilder as TimeSeriesBuilder } from '@grafana/grafana-foundation-sdk/timeseries';
import { PanelBuilder as TableBuilder } from '@grafana/grafana-foundation-sdk/table';
import { PanelBuilder as StatBuilder } from '@grafana/grafana-foundation-sdk/stat';
import {
  LegendDisplayMode,
  LegendPlacement,
  ReduceDataOptionsBuilder,
  VizLegendOptionsBuilder,
} from '@grafana/grafana-foundation-sdk/common';

export const DS = { type: 'prometheus', uid: '${datasource}' };

/** Label matchers every query carries (dashboard-linter target-job/instance rules). */
export function sel(extra = ''): string {
  return `{job=~"$job",instance=~"$instance"${extra ? ',' + extra : ''}}`;
}

/** Dashboard skeleton with the three standard variables. */
export function dashboard(uid: string, title: string, description: string): DashboardBuilder {
  // The variables key on a metric the agent always exposes (the watchdog's
  // stall-in-progress gauge), so they list every instrumented target.
  const anchor = 'loopwatch_eventloop_stall_in_progress_seconds';
  return new DashboardBuilder(title)
    .uid(uid)
    .description(description)
    .tags(['loopwatch', 'nodejs'])
    .refresh('30s')
    .time({ from: 'now-1h', to: 'now' })
    .timezone('browser')
    .readonly()
    // Grafana's built-in annotations (the SDK leaves annotations empty).
    .annotation(
      new AnnotationQueryBuilder()
        .name('Annotations & Alerts')
        .datasource({ type: 'grafana', uid: '-- Grafana --' })
        .builtIn(1)
        .type('dashboard')
        .enable(true)
        .hide(true)
        .iconColor('rgba(0, 211, 255, 1)'),
    )
    .withVariable(new DatasourceVariableBuilder('datasource').label('Data Source').type('prometheus'))
    .withVariable(
      new QueryVariableBuilder('job')
        .label('job')
        .datasource(DS)
        .query(`label_values(${anchor}, job)`)
        .definition(`label_values(${anchor}, job)`)
        .refresh(VariableRefresh.OnTimeRangeChanged)
        .sort(VariableSort.AlphabeticalAsc)
        .multi(true)
        .includeAll(true)
        .allValue('.+'),
    )
    .withVariable(
      new QueryVariableBuilder('instance')
        .label('instance')
        .datasource(DS)
        .query(`label_values(${anchor}{job=~"$job"}, instance)`)
        .definition(`label_values(${anchor}{job=~"$job"}, instance)`)
        .refresh(VariableRefresh.OnTimeRangeChanged)
        .sort(VariableSort.AlphabeticalAsc)
        .multi(true)
        .includeAll(true)
        .allValue('.+'),
    );
}

/** Hands out panel ids and target refIds so they can never collide. */
export class Ids {
  private next = 1;
  id(): number {
    return this.next++;
  }
}

/** Rows are panels too and need their own unique id. */
export function row(ids: Ids, title: string): RowBuilder {
  return new RowBuilder(title).id(ids.id());
}

export interface Query {
  expr: string;
  legend: string;
  exemplar?: boolean;
}

function target(q: Query, i: number): DataqueryBuilder {
  const t = new DataqueryBuilder()
    .refId(String.fromCharCode(65 + i))
    .datasource(DS)
    .expr(q.expr)
    .legendFormat(q.legend)
    .range();
  if (q.exemplar) t.exemplar(true);
  return t;
}

export interface PanelSpec {
  title: string;
  description: string;
  unit: string;
  queries: Query[];
  width?: number;
  height?: number;
}

export function timeseries(ids: Ids, p: PanelSpec): TimeSeriesBuilder {
  const b = new TimeSeriesBuilder()
    .id(ids.id())
    .title(p.title)
    .description(p.description)
    .unit(p.unit)
    .datasource(DS)
    .span(p.width ?? 12)
    .height(p.height ?? 8)
    .fillOpacity(10)
    .legend(
      new VizLegendOptionsBuilder()
        .showLegend(true)
        .displayMode(LegendDisplayMode.List)
        .placement(LegendPlacement.Bottom),
    );
  p.queries.forEach((q, i) => b.withTarget(target(q, i)));
  return b;
}

export function stat(ids: Ids, p: PanelSpec): StatBuilder {
  const b = new StatBuilder()
    .id(ids.id())
    .title(p.title)
    .description(p.description)
    .unit(p.unit)
    .datasource(DS)
    .span(p.width ?? 6)
    .height(p.height ?? 4)
    .reduceOptions(new ReduceDataOptionsBuilder().calcs(['lastNotNull']).values(false));
  p.queries.forEach((q, i) => b.withTarget(target(q, i)));
  return b;
}

/** Instant table (top-N over the dashboard range). */
export function table(ids: Ids, p: PanelSpec): TableBuilder {
  const b = new TableBuilder()
    .id(ids.id())
    .title(p.title)
    .description(p.description)
    .unit(p.unit)
    .datasource(DS)
    .span(p.width ?? 12)
    .height(p.height ?? 8);
  p.queries.forEach((q, i) =>
    b.withTarget(target(q, i).instant().format(PromQueryFormat.Table)),
  );
  // Hide the Time column of the instant result; keep labels and Value.
  b.withTransformation({ id: 'organize', options: { excludeByName: { Time: true } } });
  return b;
}
