//! The subset of Go's text/template that Prometheus alert templates use: `{{ $labels.x }}`,
//! `{{ $value }}`, `{{ .Labels.x }}`, pipelines, `if`/`else`/`end`, variables, and Prometheus's
//! functions (humanize*, printf, toUpper, reReplaceAll, match, …). Unsupported constructs are
//! parse errors, so a rule file using them is rejected at load time.

use crate::promql::Labels;
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq)]
pub enum TVal {
    Nil,
    Bool(bool),
    Num(f64),
    Str(String),
    Map(Labels),
}

impl TVal {
    fn truthy(&self) -> bool {
        match self {
            TVal::Nil => false,
            TVal::Bool(b) => *b,
            TVal::Num(n) => *n != 0.0,
            TVal::Str(s) => !s.is_empty(),
            TVal::Map(m) => !m.is_empty(),
        }
    }
    fn print(&self) -> String {
        match self {
            TVal::Nil => "<no value>".into(),
            TVal::Bool(b) => b.to_string(),
            TVal::Num(n) => go_g(*n, None),
            TVal::Str(s) => s.clone(),
            TVal::Map(m) => {
                let parts: Vec<String> = m.iter().map(|(k, v)| format!("{k}:{v}")).collect();
                format!("map[{}]", parts.join(" "))
            }
        }
    }
    fn num(&self) -> Result<f64, String> {
        match self {
            TVal::Num(n) => Ok(*n),
            TVal::Str(s) => {
                crate::promql::parse_float(s).map_err(|_| format!("can't convert {s:?} to float"))
            }
            TVal::Bool(_) | TVal::Nil | TVal::Map(_) => {
                Err(format!("can't convert {} to float", self.print()))
            }
        }
    }
}

#[derive(Debug, Clone)]
enum Arg {
    Var(String, Vec<String>),
    Dot(Vec<String>),
    Lit(TVal),
    Ident(String),
    Sub(Box<Pipeline>),
}

#[derive(Debug, Clone)]
struct Pipeline {
    decl: Option<String>,
    cmds: Vec<Vec<Arg>>,
}

#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Action(Pipeline),
    If(Pipeline, Vec<Node>, Vec<Node>),
}

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    nodes: Vec<Node>,
}

const FUNCS: &[&str] = &[
    "humanize",
    "humanize1024",
    "humanizePercentage",
    "humanizeDuration",
    "humanizeTimestamp",
    "printf",
    "print",
    "toUpper",
    "toLower",
    "title",
    "reReplaceAll",
    "match",
    "stripPort",
    "stripDomain",
    "safeHtml",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "and",
    "or",
    "not",
    "len",
    "index",
    "urlQueryEscape",
    "query",
    "first",
    "label",
    "value",
    "strvalue",
    "sortByLabel",
    "args",
    "toTime",
    "parseDuration",
    "externalURL",
    "pathPrefix",
];

enum Tok {
    Text(String),
    Action(String),
}

fn lex(src: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let mut rest = src;
    while let Some(i) = rest.find("{{") {
        let mut text = rest[..i].to_string();
        let after = &rest[i + 2..];
        let (trim_left, after) = match after.strip_prefix("- ") {
            Some(a) => (true, a),
            None => (false, after),
        };
        if trim_left {
            text = text.trim_end().to_string();
        }
        out.push(Tok::Text(text));
        let Some(j) = after.find("}}") else {
            return Err("unclosed action: missing \"}}\"".into());
        };
        let mut body = &after[..j];
        let mut next = &after[j + 2..];
        if let Some(b) = body.strip_suffix(" -") {
            body = b;
            next = next.trim_start();
        }
        let body = body.trim();
        if body.starts_with("/*") {
            rest = next;
            continue;
        }
        out.push(Tok::Action(body.to_string()));
        rest = next;
    }
    out.push(Tok::Text(rest.to_string()));
    Ok(out)
}

fn words(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let cs: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < cs.len() {
        let c = cs[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '"' {
            let mut j = i + 1;
            while j < cs.len() && cs[j] != '"' {
                if cs[j] == '\\' {
                    j += 1;
                }
                j += 1;
            }
            if j >= cs.len() {
                return Err("unterminated quoted string".into());
            }
            out.push(cs[i..=j].iter().collect());
            i = j + 1;
        } else if c == '`' {
            let j = cs[i + 1..]
                .iter()
                .position(|&x| x == '`')
                .ok_or("unterminated raw quoted string")?
                + i
                + 1;
            out.push(cs[i..=j].iter().collect());
            i = j + 1;
        } else if c == '|' || c == '(' || c == ')' {
            out.push(c.to_string());
            i += 1;
        } else {
            let mut j = i;
            while j < cs.len() && !cs[j].is_whitespace() && !matches!(cs[j], '|' | '(' | ')' | '"')
            {
                j += 1;
            }
            out.push(cs[i..j].iter().collect());
            i = j;
        }
    }
    Ok(out)
}

fn unquote(w: &str) -> Result<String, String> {
    if let Some(r) = w.strip_prefix('`') {
        return Ok(r.trim_end_matches('`').to_string());
    }
    let inner = &w[1..w.len() - 1];
    let mut out = String::new();
    let mut it = inner.chars();
    while let Some(c) = it.next() {
        if c == '\\' {
            match it.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('\\') => out.push('\\'),
                Some('"') => out.push('"'),
                other => {
                    return Err(format!(
                        "invalid escape \\{}",
                        other.map(String::from).unwrap_or_default()
                    ));
                }
            }
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

fn parse_pipeline(ws: &[String], pos: &mut usize, vars: &[String]) -> Result<Pipeline, String> {
    let mut decl = None;
    if ws.len() > *pos + 1
        && ws[*pos].starts_with('$')
        && (ws[*pos + 1] == ":=" || ws[*pos + 1] == "=")
    {
        decl = Some(ws[*pos].clone());
        *pos += 2;
    }
    let mut cmds = vec![Vec::new()];
    while *pos < ws.len() {
        let w = &ws[*pos];
        *pos += 1;
        let cur = cmds.last_mut().ok_or("empty pipeline")?;
        match w.as_str() {
            "|" => {
                if cur.is_empty() {
                    return Err("missing command before '|'".into());
                }
                cmds.push(Vec::new());
            }
            "(" => {
                let p = parse_pipeline(ws, pos, vars)?;
                if ws.get(*pos).map(String::as_str) != Some(")") {
                    return Err("unclosed '('".into());
                }
                *pos += 1;
                cur.push(Arg::Sub(Box::new(p)));
            }
            ")" => {
                *pos -= 1;
                break;
            }
            _ => cur.push(parse_arg(w, vars)?),
        }
    }
    if cmds.iter().any(|c| c.is_empty()) {
        return Err("missing value for command".into());
    }
    Ok(Pipeline { decl, cmds })
}

fn parse_arg(w: &str, vars: &[String]) -> Result<Arg, String> {
    if w.starts_with('"') || w.starts_with('`') {
        return Ok(Arg::Lit(TVal::Str(unquote(w)?)));
    }
    if let Some(v) = w.strip_prefix('$') {
        let mut parts = v.split('.');
        let name = format!("${}", parts.next().unwrap_or(""));
        if !vars.contains(&name) {
            return Err(format!("undefined variable \"{name}\""));
        }
        return Ok(Arg::Var(name, parts.map(String::from).collect()));
    }
    if w == "." {
        return Ok(Arg::Dot(vec![]));
    }
    if let Some(f) = w.strip_prefix('.') {
        return Ok(Arg::Dot(f.split('.').map(String::from).collect()));
    }
    match w {
        "true" => return Ok(Arg::Lit(TVal::Bool(true))),
        "false" => return Ok(Arg::Lit(TVal::Bool(false))),
        "nil" => return Ok(Arg::Lit(TVal::Nil)),
        _ => {}
    }
    if w.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == '+') {
        return w
            .parse::<f64>()
            .map(|n| Arg::Lit(TVal::Num(n)))
            .map_err(|_| format!("bad number syntax: {w:?}"));
    }
    if FUNCS.contains(&w) {
        return Ok(Arg::Ident(w.to_string()));
    }
    Err(format!("function {w:?} not defined"))
}

impl Template {
    /// Parses `src` with Prometheus's variable prefix ($labels, $externalLabels, $externalURL,
    /// $value) in scope.
    pub fn parse(src: &str) -> Result<Template, String> {
        let toks = lex(src)?;
        let mut vars: Vec<String> = ["$", "$labels", "$externalLabels", "$externalURL", "$value"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let mut i = 0;
        let (nodes, end) = parse_nodes(&toks, &mut i, &mut vars)?;
        if let Some(e) = end {
            return Err(format!("unexpected {{{{{e}}}}}"));
        }
        Ok(Template { nodes })
    }

    /// Expands the template with alert data.
    pub fn expand(&self, data: &TemplateData) -> Result<String, String> {
        let mut vars: HashMap<String, TVal> = HashMap::new();
        vars.insert("$labels".into(), TVal::Map(data.labels.clone()));
        vars.insert(
            "$externalLabels".into(),
            TVal::Map(data.external_labels.clone()),
        );
        vars.insert("$externalURL".into(), TVal::Str(data.external_url.clone()));
        vars.insert("$value".into(), TVal::Num(data.value));
        let mut out = String::new();
        exec(&self.nodes, data, &mut vars, &mut out)?;
        Ok(out)
    }
}

fn parse_nodes(
    toks: &[Tok],
    i: &mut usize,
    vars: &mut Vec<String>,
) -> Result<(Vec<Node>, Option<String>), String> {
    let mut nodes = Vec::new();
    while *i < toks.len() {
        let t = &toks[*i];
        *i += 1;
        match t {
            Tok::Text(s) => nodes.push(Node::Text(s.clone())),
            Tok::Action(a) => {
                let ws = words(a)?;
                let first = ws.first().map(String::as_str).unwrap_or("");
                match first {
                    "" => return Err("missing value for command".into()),
                    "end" | "else" => return Ok((nodes, Some(a.clone()))),
                    "if" => {
                        let mut pos = 1;
                        let cond = parse_pipeline(&ws, &mut pos, vars)?;
                        let (then, end) = parse_nodes(toks, i, vars)?;
                        let (els, end2) = match end.as_deref() {
                            Some("end") => (Vec::new(), None),
                            Some("else") => {
                                let (e, end2) = parse_nodes(toks, i, vars)?;
                                (e, end2)
                            }
                            Some(x) if x.starts_with("else if") => {
                                // Re-parse "else if X" as a nested if closed by the same end.
                                let ws2 = words(&x[5..])?;
                                let mut p2 = 1;
                                let c2 = parse_pipeline(&ws2, &mut p2, vars)?;
                                let (t2, e2) = parse_nodes(toks, i, vars)?;
                                let (el2, e3) = match e2.as_deref() {
                                    Some("else") => parse_nodes(toks, i, vars)?,
                                    Some("end") => (Vec::new(), Some("end".to_string())),
                                    _ => return Err("unexpected EOF in if".into()),
                                };
                                if e3.as_deref() != Some("end") {
                                    return Err("unexpected EOF in if".into());
                                }
                                (vec![Node::If(c2, t2, el2)], None)
                            }
                            _ => return Err("unexpected EOF: missing {{end}}".into()),
                        };
                        if let Some(e) = end2
                            && e != "end"
                        {
                            return Err(format!("unexpected {{{{{e}}}}}"));
                        }
                        nodes.push(Node::If(cond, then, els));
                    }
                    "range" | "with" | "define" | "template" | "block" | "break" | "continue" => {
                        return Err(format!(
                            "{first:?} is not supported in alert templates here"
                        ));
                    }
                    _ => {
                        let mut pos = 0;
                        let p = parse_pipeline(&ws, &mut pos, vars)?;
                        if pos < ws.len() {
                            return Err(format!("unexpected {:?} in command", ws[pos]));
                        }
                        if let Some(d) = &p.decl
                            && !vars.contains(d)
                        {
                            vars.push(d.clone());
                        }
                        nodes.push(Node::Action(p));
                    }
                }
            }
        }
    }
    Ok((nodes, None))
}

/// What an alert template sees.
#[derive(Debug, Clone, Default)]
pub struct TemplateData {
    pub labels: Labels,
    pub external_labels: Labels,
    pub external_url: String,
    pub value: f64,
}

fn exec(
    nodes: &[Node],
    d: &TemplateData,
    vars: &mut HashMap<String, TVal>,
    out: &mut String,
) -> Result<(), String> {
    for n in nodes {
        match n {
            Node::Text(s) => out.push_str(s),
            Node::Action(p) => {
                let v = eval_pipe(p, d, vars)?;
                if p.decl.is_none() {
                    out.push_str(&v.print());
                }
            }
            Node::If(c, a, b) => {
                if eval_pipe(c, d, vars)?.truthy() {
                    exec(a, d, vars, out)?;
                } else {
                    exec(b, d, vars, out)?;
                }
            }
        }
    }
    Ok(())
}

fn field(v: TVal, path: &[String]) -> Result<TVal, String> {
    let mut v = v;
    for f in path {
        v = match v {
            TVal::Map(m) => TVal::Str(m.get(f).cloned().unwrap_or_default()),
            other => {
                return Err(format!(
                    "can't evaluate field {f} in type {}",
                    type_name(&other)
                ));
            }
        };
    }
    Ok(v)
}

fn type_name(v: &TVal) -> &'static str {
    match v {
        TVal::Nil => "nil",
        TVal::Bool(_) => "bool",
        TVal::Num(_) => "float64",
        TVal::Str(_) => "string",
        TVal::Map(_) => "map[string]string",
    }
}

fn eval_arg(a: &Arg, d: &TemplateData, vars: &mut HashMap<String, TVal>) -> Result<TVal, String> {
    match a {
        Arg::Lit(v) => Ok(v.clone()),
        Arg::Var(n, path) => field(vars.get(n).cloned().unwrap_or(TVal::Nil), path),
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
        Arg::Sub(p) => eval_pipe(p, d, vars),
        Arg::Ident(f) => call(f, vec![]),
    }
}

fn eval_pipe(
    p: &Pipeline,
    d: &TemplateData,
    vars: &mut HashMap<String, TVal>,
) -> Result<TVal, String> {
    let mut prev: Option<TVal> = None;
    for cmd in &p.cmds {
        let v = match &cmd[0] {
            Arg::Ident(f) => {
                let mut args = Vec::new();
                for a in &cmd[1..] {
                    args.push(eval_arg(a, d, vars)?);
                }
                args.extend(prev.take());
                call(f, args)?
            }
            a => {
                if cmd.len() > 1 || prev.is_some() {
                    return Err("can't give argument to non-function".into());
                }
                eval_arg(a, d, vars)?
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

fn want(f: &str, args: &[TVal], n: usize) -> Result<(), String> {
    if args.len() != n {
        return Err(format!(
            "wrong number of args for {f}: want {n} got {}",
            args.len()
        ));
    }
    Ok(())
}

fn call(f: &str, args: Vec<TVal>) -> Result<TVal, String> {
    let s = |v: &TVal| v.print();
    Ok(match f {
        "humanize" | "humanize1024" | "humanizePercentage" | "humanizeDuration"
        | "humanizeTimestamp" => {
            want(f, &args, 1)?;
            let v = args[0].num()?;
            TVal::Str(match f {
                "humanize" => humanize(v),
                "humanize1024" => humanize1024(v),
                "humanizePercentage" => format!("{}%", go_g(v * 100.0, Some(4))),
                "humanizeDuration" => humanize_duration(v),
                _ => humanize_timestamp(v),
            })
        }
        "printf" => {
            let Some((fmt, rest)) = args.split_first() else {
                return Err("printf needs a format".into());
            };
            TVal::Str(go_printf(&s(fmt), rest))
        }
        "print" => TVal::Str(args.iter().map(s).collect::<Vec<_>>().join(" ")),
        "toUpper" | "toLower" | "title" | "stripPort" | "stripDomain" | "safeHtml"
        | "urlQueryEscape" => {
            want(f, &args, 1)?;
            let x = s(&args[0]);
            TVal::Str(match f {
                "toUpper" => x.to_uppercase(),
                "toLower" => x.to_lowercase(),
                "title" => x
                    .split(' ')
                    .map(|w| {
                        let mut c = w.chars();
                        c.next()
                            .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                            .unwrap_or_default()
                    })
                    .collect::<Vec<_>>()
                    .join(" "),
                "stripPort" => match x.rsplit_once(':') {
                    Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) => {
                        h.trim_start_matches('[').trim_end_matches(']').to_string()
                    }
                    _ => x,
                },
                "stripDomain" => {
                    let (host, port) = match x.rsplit_once(':') {
                        Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) => {
                            (h.to_string(), format!(":{p}"))
                        }
                        _ => (x.clone(), String::new()),
                    };
                    if host.parse::<std::net::IpAddr>().is_ok() {
                        x
                    } else {
                        format!("{}{port}", host.split('.').next().unwrap_or(""))
                    }
                }
                "urlQueryEscape" => query_escape(&x),
                _ => x,
            })
        }
        "reReplaceAll" => {
            want(f, &args, 3)?;
            let re =
                regex::Regex::new(&format!("(?s:{})", s(&args[0]))).map_err(|e| e.to_string())?;
            TVal::Str(
                re.replace_all(&s(&args[2]), s(&args[1]).as_str())
                    .into_owned(),
            )
        }
        "match" => {
            want(f, &args, 2)?;
            let re = regex::Regex::new(&s(&args[0])).map_err(|e| e.to_string())?;
            TVal::Bool(re.is_match(&s(&args[1])))
        }
        "eq" | "ne" | "lt" | "le" | "gt" | "ge" => {
            want(f, &args, 2)?;
            let o = match (&args[0], &args[1]) {
                (TVal::Num(a), TVal::Num(b)) => a.partial_cmp(b),
                (a, b) => Some(s(a).cmp(&s(b))),
            };
            let Some(o) = o else {
                return Ok(TVal::Bool(f == "ne"));
            };
            TVal::Bool(match f {
                "eq" => o.is_eq(),
                "ne" => o.is_ne(),
                "lt" => o.is_lt(),
                "le" => o.is_le(),
                "gt" => o.is_gt(),
                _ => o.is_ge(),
            })
        }
        "not" => {
            want(f, &args, 1)?;
            TVal::Bool(!args[0].truthy())
        }
        "and" => args
            .iter()
            .find(|a| !a.truthy())
            .or(args.last())
            .cloned()
            .unwrap_or(TVal::Nil),
        "or" => args
            .iter()
            .find(|a| a.truthy())
            .or(args.last())
            .cloned()
            .unwrap_or(TVal::Nil),
        "len" => {
            want(f, &args, 1)?;
            TVal::Num(match &args[0] {
                TVal::Map(m) => m.len() as f64,
                v => s(v).len() as f64,
            })
        }
        "index" => {
            want(f, &args, 2)?;
            field(args[0].clone(), &[s(&args[1])])?
        }
        "toTime" | "parseDuration" => {
            want(f, &args, 1)?;
            match f {
                "parseDuration" => TVal::Num(
                    super::duration::parse_duration(&s(&args[0]))
                        .map_err(|e| e.to_string())?
                        .as_std()
                        .as_secs_f64(),
                ),
                _ => TVal::Str(humanize_timestamp(args[0].num()?)),
            }
        }
        _ => return Err(format!("function {f:?} is not available in this context")),
    })
}

/// Go's `url.QueryEscape`: unreserved bytes kept, space as `+`, the rest `%XX`.
pub fn query_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            b' ' => "+".into(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Go's `%g` (shortest when `prec` is None, else `%.<prec>g`).
pub fn go_g(v: f64, prec: Option<usize>) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    if v == 0.0 {
        return if v.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let e = match prec {
        Some(p) => format!("{:.*e}", p.max(1) - 1, v),
        None => format!("{v:e}"),
    };
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let neg = mant.starts_with('-');
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    let digits = digits.trim_end_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    let eprec = match prec {
        None => 6, // Go: the shortest form picks %e vs %f as if the precision were 6
        Some(p) => {
            let p = p.max(1) as i32;
            if p > digits.len() as i32 && digits.len() as i32 > exp {
                digits.len() as i32
            } else {
                p
            }
        }
    };
    let sign = if neg { "-" } else { "" };
    if exp < -4 || exp >= eprec {
        let (a, b) = digits.split_at(1);
        let frac = if b.is_empty() {
            String::new()
        } else {
            format!(".{b}")
        };
        let es = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{a}{frac}e{es}{:02}", exp.abs());
    }
    if exp < 0 {
        return format!("{sign}0.{}{digits}", "0".repeat((-exp - 1) as usize));
    }
    let int_len = exp as usize + 1;
    if digits.len() <= int_len {
        format!("{sign}{digits}{}", "0".repeat(int_len - digits.len()))
    } else {
        format!("{sign}{}.{}", &digits[..int_len], &digits[int_len..])
    }
}

fn humanize(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return go_g(v, Some(4));
    }
    let mut v = v;
    let mut prefix = "";
    if v.abs() >= 1.0 {
        for p in ["k", "M", "G", "T", "P", "E", "Z", "Y"] {
            if v.abs() < 1000.0 {
                break;
            }
            prefix = p;
            v /= 1000.0;
        }
    } else {
        for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
            if v.abs() >= 1.0 {
                break;
            }
            prefix = p;
            v *= 1000.0;
        }
    }
    format!("{}{prefix}", go_g(v, Some(4)))
}

fn humanize1024(v: f64) -> String {
    if v.abs() <= 1.0 || !v.is_finite() {
        return go_g(v, Some(4));
    }
    let mut v = v;
    let mut prefix = "";
    for p in ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
        if v.abs() < 1024.0 {
            break;
        }
        prefix = p;
        v /= 1024.0;
    }
    format!("{}{prefix}", go_g(v, Some(4)))
}

fn humanize_duration(v: f64) -> String {
    if !v.is_finite() {
        return go_g(v, Some(4));
    }
    if v == 0.0 {
        return format!("{}s", go_g(v, Some(4)));
    }
    if v.abs() >= 1.0 {
        let sign = if v < 0.0 { "-" } else { "" };
        let v = v.abs();
        let d = v as i64;
        let (s, m, h, days) = (d % 60, (d / 60) % 60, (d / 3600) % 24, d / 86400);
        if days != 0 {
            return format!("{sign}{days}d {h}h {m}m {s}s");
        }
        if h != 0 {
            return format!("{sign}{h}h {m}m {s}s");
        }
        if m != 0 {
            return format!("{sign}{m}m {s}s");
        }
        return format!("{sign}{}s", go_g(v, Some(4)));
    }
    let mut v = v;
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}s", go_g(v, Some(4)))
}

fn humanize_timestamp(v: f64) -> String {
    if !v.is_finite() {
        return go_g(v, Some(4));
    }
    let secs = v.floor() as i64;
    let nanos = ((v - v.floor()) * 1e9).round() as u32;
    match chrono::DateTime::from_timestamp(secs, nanos.min(999_999_999)) {
        Some(t) => t.format("%Y-%m-%d %H:%M:%S%.f +0000 UTC").to_string(),
        None => go_g(v, Some(4)),
    }
}

/// Go's fmt.Sprintf for the verbs alert templates use: %s %v %d %f %g %e %q %x %%, with
/// width and precision.
pub fn go_printf(fmt: &str, args: &[TVal]) -> String {
    let mut out = String::new();
    let cs: Vec<char> = fmt.chars().collect();
    let mut i = 0;
    let mut ai = 0;
    while i < cs.len() {
        if cs[i] != '%' {
            out.push(cs[i]);
            i += 1;
            continue;
        }
        i += 1;
        let mut flags = String::new();
        while i < cs.len() && "+-# 0".contains(cs[i]) {
            flags.push(cs[i]);
            i += 1;
        }
        let mut width = String::new();
        while i < cs.len() && cs[i].is_ascii_digit() {
            width.push(cs[i]);
            i += 1;
        }
        let mut prec: Option<usize> = None;
        if i < cs.len() && cs[i] == '.' {
            i += 1;
            let mut p = String::new();
            while i < cs.len() && cs[i].is_ascii_digit() {
                p.push(cs[i]);
                i += 1;
            }
            prec = Some(p.parse::<usize>().unwrap_or(0).min(100));
        }
        let Some(&verb) = cs.get(i) else {
            out.push_str("%!(NOVERB)");
            break;
        };
        i += 1;
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(ai) else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        ai += 1;
        let s = match (verb, arg) {
            ('d', TVal::Num(n)) => format!("{}", *n as i64),
            ('f' | 'F', TVal::Num(n)) => format!("{:.*}", prec.unwrap_or(6), n),
            ('e', TVal::Num(n)) => {
                let r = format!("{:.*e}", prec.unwrap_or(6), n);
                match r.split_once('e') {
                    Some((m, e)) => {
                        let ev: i32 = e.parse().unwrap_or(0);
                        format!("{m}e{}{:02}", if ev < 0 { '-' } else { '+' }, ev.abs())
                    }
                    None => r,
                }
            }
            ('g' | 'v', TVal::Num(n)) => go_g(*n, prec),
            ('s' | 'v', v) => v.print(),
            ('q', v) => format!("{:?}", v.print()),
            ('x', TVal::Num(n)) => format!("{:x}", *n as i64),
            ('t', TVal::Bool(b)) => b.to_string(),
            (verb, v) => format!("%!{verb}({}={})", type_name(v), v.print()),
        };
        let w: usize = width.parse::<usize>().unwrap_or(0).min(1000);
        if s.chars().count() < w {
            let pad = w - s.chars().count();
            if flags.contains('-') {
                out.push_str(&s);
                out.push_str(&" ".repeat(pad));
            } else if flags.contains('0') && matches!(arg, TVal::Num(_)) {
                out.push_str(&"0".repeat(pad));
                out.push_str(&s);
            } else {
                out.push_str(&" ".repeat(pad));
                out.push_str(&s);
            }
        } else {
            out.push_str(&s);
        }
    }
    if ai < args.len() {
        out.push_str("%!(EXTRA ");
        out.push_str(
            &args[ai..]
                .iter()
                .map(|a| format!("{}={}", type_name(a), a.print()))
                .collect::<Vec<_>>()
                .join(", "),
        );
        out.push(')');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn x(src: &str, value: f64) -> String {
        let mut labels = Labels::new();
        labels.insert("instance".into(), "host:9100".into());
        let d = TemplateData {
            labels,
            value,
            ..Default::default()
        };
        Template::parse(src).unwrap().expand(&d).unwrap()
    }

    #[test]
    fn formats_like_go() {
        assert_eq!(go_g(1e6, None), "1e+06");
        assert_eq!(go_g(123456.0, None), "123456");
        assert_eq!(go_g(0.5, None), "0.5");
        assert_eq!(go_g(1234.5678, Some(4)), "1235");
        assert_eq!(go_g(12345.0, Some(4)), "1.234e+04");
        assert_eq!(go_g(100.0, Some(4)), "100");
        assert_eq!(go_g(0.0001234, None), "0.0001234");
        assert_eq!(go_g(0.00001234, None), "1.234e-05");
    }

    #[test]
    fn expands_prometheus_style() {
        assert_eq!(
            x("{{ $labels.instance }} at {{ $value }}", 0.25),
            "host:9100 at 0.25"
        );
        assert_eq!(x("{{ .Labels.instance | stripPort }}", 0.0), "host");
        assert_eq!(x("{{ $value | humanize }}", 1234567.0), "1.235M");
        assert_eq!(x("{{ $value | humanize1024 }}", 2048.0), "2ki");
        assert_eq!(x("{{ $value | humanizePercentage }}", 0.8512), "85.12%");
        assert_eq!(x("{{ humanizeDuration $value }}", 3725.0), "1h 2m 5s");
        assert_eq!(x("{{ printf \"%.2f\" $value }}", 1.0 / 3.0), "0.33");
        assert_eq!(
            x("{{ if gt $value 1.0 }}big{{ else }}small{{ end }}", 2.0),
            "big"
        );
        assert_eq!(x("{{- $v := $value }} v={{ $v }}", 3.0), " v=3");
        assert!(Template::parse("{{ $labels.x").is_err());
        assert!(Template::parse("{{ nosuchfunc $value }}").is_err());
        assert!(Template::parse("{{ $nosuchvar }}").is_err());
        assert!(Template::parse("{{ if $value }}x").is_err());
    }
}
