//! Go's `fmt.Sprintf` over template values, for the verbs alert templates use (`%s %v %d
//! %f %g %e %q %x %t %%`, with flags, width and precision), including Go's in-band
//! complaints (`%!d(string=x)`, `%!s(MISSING)`, `%!(EXTRA ...)`) instead of errors.

use super::gofmt::{go_e, go_g};
use super::value::{TVal, type_name};

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
            ('e', TVal::Num(n)) => go_e(*n, prec.unwrap_or(6)),
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
