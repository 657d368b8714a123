//! One seed's world: the exports each run brings (and the model of what they are worth), the
//! marketplace's fault plan, and the knobs drawn for the seed (lookup lag, rate limit, key
//! expiry, a skewed second worker).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use kudos_sim::FaultPlan;

use super::Rng;
use crate::run::agent;

/// One seed's data: per scheduled run, the files it brings (name, text); and the model.
pub(super) struct Scenario {
    pub(super) runs: Vec<Vec<(String, String)>>,
    /// (agent, day, metric) → value, in the order files are ingested (the last one wins).
    pub(super) finals: BTreeMap<(u32, String, String), f64>,
    pub(super) names: Vec<String>,
    pub(super) agents: u32,
}

pub(super) fn scenario(rng: &mut Rng, most_agents: u64) -> Scenario {
    let agents = 4 + u32::try_from(rng.below(most_agents.saturating_sub(3))).unwrap_or(0);
    let runs_n = 3 + rng.below(3);
    let mut runs = Vec::new();
    let mut finals = BTreeMap::new();
    let mut names = Vec::new();
    let mut pending_late: Vec<(String, String)> = Vec::new();
    for r in 0..runs_n {
        let mut files: Vec<(String, String)> = std::mem::take(&mut pending_late);
        let day = format!("2026-03-{:02}", 2 + r);
        let mut canonical = String::from("agent_id,date,metric,value\n");
        let mut late = String::from("agent_id,date,metric,value\n");
        for a in 1..=agents {
            let sales = rng.below(180);
            let _ = writeln!(canonical, "{},{day},sales,{sales}", agent(a));
            if rng.chance(0.2) {
                let p = 1 + rng.below(3);
                let _ = writeln!(canonical, "{},{day},penalties,{p}", agent(a));
            }
            if r > 0 && rng.chance(0.25) {
                // A restatement of an earlier day, arriving now (or, late, with the next run).
                let earlier = format!("2026-03-{:02}", 2 + rng.below(r));
                let v = rng.below(150);
                let line = format!("{},{earlier},sales,{v}\n", agent(a));
                if rng.chance(0.5) {
                    canonical.push_str(&line);
                } else {
                    late.push_str(&line);
                }
            }
            if rng.chance(0.1) {
                // A row dated after the run's day: it waits for a later run.
                let _ = writeln!(
                    canonical,
                    "{},2026-03-{:02},sales,{}",
                    agent(a),
                    3 + r,
                    rng.below(50)
                );
            }
        }
        if rng.chance(0.5) {
            canonical.push_str("not-an-agent id,2026-13-01,sales,x\n"); // a bad row
        }
        files.push((format!("r{r}-a-sales.csv"), canonical));
        if late.lines().count() > 1 {
            pending_late.push((format!("r{}-z-late.csv", r + 1), late));
        }
        // The agent performance CSV, with names and e-mail addresses.
        let mut wide =
            String::from("\"Agent Id\",\"Agent Name\",\"Email\",\"Interval Start\",\"Answered\"\n");
        for a in 1..=agents {
            let name = format!("Agent Person{a}x{r}");
            let email = format!("person{a}.r{r}@example.com");
            let _ = writeln!(
                wide,
                "\"{}\",\"{name}\",\"{email}\",\"{day}T00:00:00.000Z\",\"{}\"",
                agent(a),
                rng.below(40)
            );
            names.push(name);
            names.push(email);
        }
        files.push((format!("r{r}-b-performance.csv"), wide));
        runs.push(files);
    }
    if let Some(last) = runs.last_mut() {
        last.extend(pending_late);
    }
    // The model: files in ingestion order (run by run, by name), the last value of a key wins;
    // rows dated after the last run's day never count (the harness's final runs use that day).
    let last_day = format!("2026-03-{:02}", 2 + runs.len() - 1);
    for files in &mut runs {
        files.sort();
    }
    for files in &runs {
        for (_, text) in files {
            for line in text.lines().skip(1) {
                let cells: Vec<String> = line
                    .split(',')
                    .map(|c| c.trim_matches('"').to_owned())
                    .collect();
                let (a, day, metric, value) = if cells.len() == 4 {
                    (
                        cells[0].clone(),
                        cells[1].clone(),
                        cells[2].clone(),
                        cells[3].clone(),
                    )
                } else {
                    (
                        cells[0].clone(),
                        cells[3][..10].to_owned(),
                        "answered".to_owned(),
                        cells[4].clone(),
                    )
                };
                let Some(n) = a.strip_prefix("a1b2c3d4-0000-4000-8000-") else {
                    continue;
                };
                let (Ok(n), Ok(v)) = (n.parse::<u32>(), value.parse::<f64>()) else {
                    continue;
                };
                if day.as_str() > last_day.as_str() {
                    continue;
                }
                finals.insert((n, day, metric), v);
            }
        }
    }
    Scenario {
        runs,
        finals,
        names,
        agents,
    }
}

/// The marketplace's fault plan: issue faults, and (in some seeds) faults on lookups and on
/// reversals — `5xx`, resets, processed-then-dropped, `NOT_REVERSIBLE`.
pub(super) fn faults(rng: &mut Rng) -> FaultPlan {
    let mut plan = format!("seed = {}\n", rng.below(1_000_000));
    let chance = |rng: &mut Rng| 0.03 + f64::from(u32::try_from(rng.below(8)).unwrap_or(0)) / 100.0;
    let issue = [
        "action = 'status'\nstatus = 503",
        "action = 'status'\nstatus = 504",
        "action = 'status'\nstatus = 429\nretry_after_secs = 0",
        "action = 'reset'",
        "action = 'hang'",
        "action = 'drop_after_processing'",
        "action = 'rejected'",
        "action = 'pending'",
        "action = 'pending_then_failed'",
    ];
    let reverse = [
        "action = 'status'\nstatus = 503",
        "action = 'reset'",
        "action = 'drop_after_processing'",
        "action = 'not_reversible'",
        "action = 'hang'",
    ];
    for c in reverse {
        if rng.chance(0.4) {
            let p = chance(rng);
            let _ = write!(
                plan,
                "[[fault]]\npath = '/v1/rewards/{{id}}/reverse'\nprobability = {p}\n{c}\n"
            );
        }
    }
    for c in issue {
        if rng.chance(0.6) {
            let p = chance(rng);
            let _ = write!(
                plan,
                "[[fault]]\npath = '/v1/rewards/issue'\nprobability = {p}\n{c}\n"
            );
        }
    }
    // Lookups (`{id}` matches `issue` too, which comes first above when it has faults).
    for c in ["action = 'status'\nstatus = 503", "action = 'reset'"] {
        if rng.chance(0.3) {
            let p = chance(rng);
            let _ = write!(
                plan,
                "[[fault]]\npath = '/v1/rewards/{{id}}'\nprobability = {p}\n{c}\n"
            );
        }
    }
    if rng.chance(0.3) {
        plan.push_str("[[downtime]]\nfrom_secs = 0.3\nuntil_secs = 0.6\n");
    }
    FaultPlan::from_toml(&plan).unwrap()
}

/// What else a seed draws about the marketplace and the people around it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Knobs {
    /// Lookups lag this long behind issues and reversals (eventual consistency).
    pub(super) lookup_lag_ms: u64,
    /// One request a second, with `Retry-After` as an HTTP date (slow: a few seeds only); the
    /// client is then configured for it (`requests_per_second = 1`, retries on).
    pub(super) rate_limited: bool,
    /// Before this run, the marketplace's idempotency retention passes (keys forgotten, the
    /// clock a day on).
    pub(super) keys_expire_before_run: Option<usize>,
    /// A second worker runs beside the first, its clock this many seconds off (none if 0).
    pub(super) second_worker_skew_secs: i64,
    /// The operator tries the wrong action first this often.
    pub(super) wrong_action_chance: f64,
    /// After this run, the marketplace voids one issued reward (a cancelled order, a bounced
    /// delivery): the re-check must give its points back.
    pub(super) void_after_run: Option<usize>,
    /// Retries within one call (0 in some seeds: every lost answer is then in doubt, and a
    /// reversal processed then dropped stays unknown until a later run looks).
    pub(super) client_retries: u32,
}

pub(super) fn knobs(rng: &mut Rng, runs: usize) -> Knobs {
    let rate_limited = rng.chance(0.04);
    Knobs {
        lookup_lag_ms: if rng.chance(0.3) {
            20 + rng.below(150)
        } else {
            0
        },
        rate_limited,
        keys_expire_before_run: rng
            .chance(0.3)
            .then(|| 1 + usize::try_from(rng.below(u64::try_from(runs).unwrap_or(1))).unwrap_or(0)),
        second_worker_skew_secs: if !rate_limited && rng.chance(0.4) {
            let skew = 10 + i64::try_from(rng.below(50)).unwrap_or(0);
            if rng.chance(0.5) { skew } else { -skew }
        } else {
            0
        },
        wrong_action_chance: 0.3,
        client_retries: if rng.chance(0.3) { 0 } else { 2 },
        void_after_run: rng
            .chance(0.3)
            .then(|| usize::try_from(rng.below(u64::try_from(runs).unwrap_or(1))).unwrap_or(0)),
    }
}
