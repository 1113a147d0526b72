//! Running a parsed template on one alert: what `.Labels`, `$labels`, `$value`, ... are
//! bound to, how a pipeline passes each command's result on as the next one's last
//! argument, which branch of an `if` runs, and what each action prints.

use super::functions::call;
use super::parse::{Arg, Node, Pipeline};
use super::value::{TVal, field};
use crate::promql::Labels;
use std::collections::HashMap;

/// What an alert template sees.
#[derive(Debug, Clone, Default)]
pub struct TemplateData {
    pub labels: Labels,
    pub external_labels: Labels,
    pub external_url: String,
    pub value: f64,
}

/// Expands `nodes` with alert data, the prefix's variables bound to it.
pub(super) fn run(nodes: &[Node], data: &TemplateData) -> Result<String, String> {
    let mut vars: HashMap<String, TVal> = HashMap::new();
    vars.insert("$labels".into(), TVal::Map(data.labels.clone()));
    vars.insert(
        "$externalLabels".into(),
        TVal::Map(data.external_labels.clone()),
    );
    vars.insert("$externalURL".into(), TVal::Str(data.external_url.clone()));
    vars.insert("$value".into(), TVal::Num(data.value));
    let mut out = String::new();
    exec(nodes, data, None, &mut vars, &mut out)?;
    Ok(out)
}

/// `dot` is `.` inside a `with`; `None` is the alert data itself.
fn exec(
    nodes: &[Node],
    d: &TemplateData,
    dot: Option<&TVal>,
    vars: &mut HashMap<String, TVal>,
    out: &mut String,
) -> Result<(), String> {
    for n in nodes {
        match n {
            Node::Text(s) => out.push_str(s),
            Node::Action(p) => {
                let v = eval_pipe(p, d, dot, vars)?;
                if p.decl.is_none() {
                    out.push_str(&v.print());
                }
            }
            Node::If(c, a, b) => {
                if eval_pipe(c, d, dot, vars)?.truthy() {
                    exec(a, d, dot, vars, out)?;
                } else {
                    exec(b, d, dot, vars, out)?;
                }
            }
            Node::With(c, a, b) => {
                let v = eval_pipe(c, d, dot, vars)?;
                if v.truthy() {
                    exec(a, d, Some(&v), vars, out)?;
                } else {
                    exec(b, d, dot, vars, out)?;
                }
            }
        }
    }
    Ok(())
}

fn eval_arg(
    a: &Arg,
    d: &TemplateData,
    dot: Option<&TVal>,
    vars: &mut HashMap<String, TVal>,
) -> Result<TVal, String> {
    match a {
        Arg::Lit(v) => Ok(v.clone()),
        Arg::Var(n, path) => field(vars.get(n).cloned().unwrap_or(TVal::Nil), path),
        Arg::Dot(path) if dot.is_some() => field(dot.cloned().unwrap_or(TVal::Nil), path),
        Arg::Dot(path) => {
            let Some(first) = path.first() else {
                return Ok(TVal::Nil);
            };
            let base = match first.as_str() {
                "Labels" => TVal::Map(d.labels.clone()),
                "ExternalLabels" => TVal::Map(d.external_labels.clone()),
                "ExternalURL" => TVal::Str(d.external_url.clone()),
                "Value" => TVal::Num(d.value),
                f => return Err(format!("can't evaluate field {f}")),
            };
            field(base, &path[1..])
        }
        Arg::Sub(p) => eval_pipe(p, d, dot, vars),
        Arg::Ident(f) => call(f, vec![]),
    }
}

fn eval_pipe(
    p: &Pipeline,
    d: &TemplateData,
    dot: Option<&TVal>,
    vars: &mut HashMap<String, TVal>,
) -> Result<TVal, String> {
    let mut prev: Option<TVal> = None;
    for cmd in &p.cmds {
        let v = match &cmd[0] {
            Arg::Ident(f) => {
                let mut args = Vec::new();
                for a in &cmd[1..] {
                    args.push(eval_arg(a, d, dot, vars)?);
                }
                args.extend(prev.take());
                call(f, args)?
            }
            a => {
                if cmd.len() > 1 || prev.is_some() {
                    return Err("can't give argument to non-function".into());
                }
                eval_arg(a, d, dot, vars)?
            }
        };
        prev = Some(v);
    }
    let v = prev.unwrap_or(TVal::Nil);
    if let Some(n) = &p.decl {
        vars.insert(n.clone(), v.clone());
    }
    Ok(v)
}
