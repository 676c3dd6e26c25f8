// kpis.js: today's figures with small charts: meals on time, delivery latency, falls and
// alert response times by stage, patrol rounds, tasks.
import {h, $, fill} from './dom.js';
import {t, duration} from './i18n.js';
import {api, clock} from './api.js';

const s = (tag, attrs, ...children) => h(`svg:${tag}`, attrs, ...children);

/** A small horizontal bar chart; every bar carries its number as text too. */
function bars(rows, {max, format = (v) => String(v)} = {}) {
  const top = max ?? Math.max(1, ...rows.map((r) => r.value || 0));
  const height = rows.length * 26;
  return s('svg', {class: 'chart', viewBox: `0 0 300 ${height}`, role: 'img',
      'aria-label': rows.map((r) => `${r.label}: ${r.value == null ? '–' : format(r.value)}`).join('; ')},
    ...rows.flatMap((row, i) => [
      s('text', {x: 0, y: i * 26 + 17, class: 'chart-label'}, row.label),
      s('rect', {x: 150, y: i * 26 + 5, width: 100, height: 16, class: 'chart-track'}),
      s('rect', {x: 150, y: i * 26 + 5, width: Math.max(0, 100 * Math.min(1, (row.value || 0) / top)), height: 16,
        class: `chart-bar ${row.cls || ''}`}),
      s('text', {x: 255, y: i * 26 + 17, class: 'chart-value'}, row.value == null ? '–' : format(row.value))]));
}

function tile(title, big, chart, note) {
  return h('section', {class: 'kpi'}, h('h3', {}, title), h('p', {class: 'kpi-big'}, big), chart,
    note ? h('p', {class: 'kpi-note'}, note) : null);
}

const percent = (share) => (share == null ? '–' : `${Math.round(share * 100)}%`);
const minutes = (v) => (v == null ? '–' : t('time.min_dec', {n: v.toFixed(1)}));

let last = null;

export async function loadKpis() {
  const figures = await api('/api/kpis');
  clock.note(figures.until);
  last = figures;
  renderKpis(figures);
}

/** Again in another language, from the figures already here. */
export const redrawKpis = () => { if (last) renderKpis(last); };

export function renderKpis({kpis: k, alerts}) {
  const stages = ['acknowledged', 'robot_arrived', 'resolved'];
  const stageChart = (priority) => bars(stages.map((stage) => ({
    label: t(`kpi.stage.${stage}`), value: alerts.by_stage[priority]?.[stage]?.median_s ?? null, cls: priority})),
  {format: duration});
  fill($('#kpi-tiles'),
    tile(t('kpi.meals'), percent(k.meals_on_time_share),
      bars([{label: t('kpi.delivered'), value: k.meals_delivered, cls: 'ok'},
            {label: t('kpi.missed'), value: k.meals_missed, cls: 'bad'},
            {label: t('kpi.total'), value: k.meals_total}], {max: Math.max(1, k.meals_total)}),
      t('kpi.on_time_note')),
    tile(t('kpi.latency'), minutes(k.delivery_latency_mean_min),
      bars([{label: t('kpi.mean'), value: k.delivery_latency_mean_min},
            {label: t('kpi.p95'), value: k.delivery_latency_p95_min},
            {label: t('kpi.max'), value: k.delivery_latency_max_min}], {format: (v) => minutes(v)})),
    tile(t('kpi.falls'), String(k.falls),
      bars([{label: t('kpi.response_mean'), value: k.fall_response_mean_s, cls: 'high'},
            {label: t('kpi.response_max'), value: k.fall_response_max_s, cls: 'high'}], {format: duration}),
      k.fall_unreached ? t('kpi.unreached', {n: k.fall_unreached}) : null),
    tile(t('kpi.alerts_high'), String(alerts.by_stage.high?.count ?? 0), stageChart('high'), t('kpi.median_note')),
    tile(t('kpi.alerts_medium'), String(alerts.by_stage.medium?.count ?? 0), stageChart('medium'), t('kpi.median_note')),
    tile(t('kpi.patrols'), String(k.patrol_rounds_done),
      bars([{label: t('kpi.rounds'), value: k.patrol_rounds_done},
            {label: t('kpi.scans'), value: k.patrol_checkpoints_scanned}])),
    tile(t('kpi.tasks'), String(k.tasks_total),
      bars([{label: t('kpi.completed'), value: k.tasks_completed, cls: 'ok'},
            {label: t('kpi.open'), value: k.tasks_open},
            {label: t('kpi.failed'), value: k.tasks_failed, cls: 'bad'},
            {label: t('kpi.cancelled'), value: k.tasks_cancelled}], {max: Math.max(1, k.tasks_total)})));
}
