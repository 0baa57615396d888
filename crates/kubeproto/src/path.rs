//! Where in an object an error happened, as a JSON path
//! (`spec.template.spec.containers[0].image`). Built as a borrowed chain on
//! the stack so the happy path allocates nothing; rendered only on error.

use std::fmt;

#[derive(Clone, Copy)]
pub(crate) enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

#[derive(Clone, Copy)]
pub(crate) struct Path<'a> {
    parent: Option<&'a Path<'a>>,
    seg: Option<Seg<'a>>,
}

impl<'a> Path<'a> {
    pub(crate) const ROOT: Path<'static> = Path { parent: None, seg: None };

    pub(crate) fn key(&'a self, key: &'a str) -> Path<'a> {
        Path { parent: Some(self), seg: Some(Seg::Key(key)) }
    }

    pub(crate) fn index(&'a self, i: usize) -> Path<'a> {
        Path { parent: Some(self), seg: Some(Seg::Index(i)) }
    }
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut segs = Vec::new();
        let mut at = Some(self);
        while let Some(p) = at {
            segs.extend(p.seg);
            at = p.parent;
        }
        if segs.is_empty() {
            return f.write_str("(object)");
        }
        for (i, seg) in segs.iter().rev().enumerate() {
            match seg {
                Seg::Key(k) if i == 0 => f.write_str(k)?,
                Seg::Key(k) => write!(f, ".{k}")?,
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_a_json_path() {
        let root = Path::ROOT;
        let spec = root.key("spec");
        let c = spec.key("containers");
        let c0 = c.index(0);
        let img = c0.key("image");
        assert_eq!(img.to_string(), "spec.containers[0].image");
        assert_eq!(root.to_string(), "(object)");
    }
}
