//! Test support for the plot tests: a small XML well-formedness checker (compiled only
//! for tests), so the SVG output is checked without an XML dependency.

/// A small XML well-formedness checker for the plot tests: one root element, balanced and
/// properly nested tags, quoted attributes without duplicates, only the predefined or
/// numeric entity references, and every coordinate attribute a finite number.
pub(super) fn check_svg(doc: &str) -> Result<usize, String> {
    let mut rest = doc.trim_start();
    if let Some(after) = rest.strip_prefix("<?xml") {
        let end = after.find("?>").ok_or("unterminated XML declaration")?;
        rest = &after[end + 2..];
    }
    let mut stack: Vec<&str> = Vec::new();
    let (mut roots, mut elements) = (0, 0);
    while !rest.is_empty() {
        let lt = rest.find('<').unwrap_or(rest.len());
        let text = &rest[..lt];
        if stack.is_empty() && !text.trim().is_empty() {
            return Err(format!("text outside the root: {text:?}"));
        }
        check_entities(text)?;
        rest = &rest[lt..];
        if rest.is_empty() {
            break;
        }
        if let Some(after) = rest.strip_prefix("</") {
            let gt = after.find('>').ok_or("unterminated end tag")?;
            let name = after[..gt].trim_end();
            match stack.pop() {
                Some(open) if open == name => {}
                open => return Err(format!("</{name}> closes {open:?}")),
            }
            roots += usize::from(stack.is_empty());
            rest = &after[gt + 1..];
            continue;
        }
        if let Some(after) = rest.strip_prefix("<!--") {
            rest = &after[after.find("-->").ok_or("unterminated comment")? + 3..];
            continue;
        }
        if roots > 0 {
            return Err("a second root element".to_string());
        }
        let body = &rest[1..];
        let name_end = body
            .find(|c: char| c.is_whitespace() || c == '/' || c == '>')
            .ok_or("unterminated start tag")?;
        let name = &body[..name_end];
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_alphanumeric() || c == '-' || c == ':')
        {
            return Err(format!("bad element name {name:?}"));
        }
        elements += 1;
        let mut attrs = body[name_end..].trim_start();
        let mut seen: Vec<&str> = Vec::new();
        loop {
            if let Some(after) = attrs.strip_prefix("/>") {
                roots += usize::from(stack.is_empty());
                rest = after;
                break;
            }
            if let Some(after) = attrs.strip_prefix('>') {
                stack.push(name);
                rest = after;
                break;
            }
            let eq = attrs
                .find('=')
                .ok_or(format!("<{name}>: attribute without '='"))?;
            let key = attrs[..eq].trim();
            if key.is_empty() || key.contains(char::is_whitespace) || seen.contains(&key) {
                return Err(format!("<{name}>: bad or repeated attribute {key:?}"));
            }
            seen.push(key);
            let after = attrs[eq + 1..].trim_start();
            let quote = after.chars().next().filter(|&c| c == '"' || c == '\'');
            let quote = quote.ok_or(format!("<{name} {key}>: unquoted value"))?;
            let close = after[1..]
                .find(quote)
                .ok_or("unterminated attribute value")?;
            let value = &after[1..1 + close];
            if value.contains('<') {
                return Err(format!("<{name} {key}>: '<' in a value"));
            }
            check_entities(value)?;
            check_numbers(name, key, value)?;
            attrs = after[close + 2..].trim_start();
        }
    }
    if !stack.is_empty() || roots != 1 {
        return Err(format!("unclosed {stack:?} or {roots} root elements"));
    }
    Ok(elements)
}

/// Every `&` starts a predefined or numeric entity reference.
fn check_entities(text: &str) -> Result<(), String> {
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        let after = &rest[amp + 1..];
        let semi = after.find(';').ok_or(format!("bare '&' in {text:?}"))?;
        let entity = &after[..semi];
        let numeric = entity.strip_prefix('#').is_some_and(|n| {
            n.parse::<u32>().is_ok()
                || n.strip_prefix('x')
                    .is_some_and(|h| u32::from_str_radix(h, 16).is_ok())
        });
        if !numeric && !["amp", "lt", "gt", "quot", "apos"].contains(&entity) {
            return Err(format!("unknown entity &{entity}; in {text:?}"));
        }
        rest = &after[semi + 1..];
    }
    Ok(())
}

/// Coordinate attributes hold only finite numbers.
fn check_numbers(element: &str, key: &str, value: &str) -> Result<(), String> {
    const NUMERIC: [&str; 14] = [
        "x",
        "y",
        "x1",
        "y1",
        "x2",
        "y2",
        "cx",
        "cy",
        "r",
        "width",
        "height",
        "points",
        "viewBox",
        "font-size",
    ];
    let value = if key == "transform" {
        value.trim_start_matches("rotate(").trim_end_matches(')')
    } else if NUMERIC.contains(&key) {
        value
    } else {
        return Ok(());
    };
    for word in value.split([' ', ',']).filter(|w| !w.is_empty()) {
        if !word.parse::<f64>().is_ok_and(f64::is_finite) {
            return Err(format!(
                "<{element} {key}=\"{value}\">: {word:?} is not finite"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_well_formed_and_rejects_the_rest() {
        for bad in [
            "<svg><g></svg></g>",
            "<svg a=\"1\" a=\"2\"/>",
            "<svg x=\"NaN\"/>",
            "<svg>a & b</svg>",
            "<svg/><svg/>",
            "<svg>",
            "<svg><rect width=inf/></svg>",
        ] {
            assert!(check_svg(bad).is_err(), "{bad}");
        }
        assert_eq!(check_svg("<svg><g x=\"1\">t&amp;</g><rect/></svg>"), Ok(3));
    }
}
