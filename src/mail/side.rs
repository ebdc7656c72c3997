//! The two sides of a channel, far and near, and a value held for each.

use serde::Serialize;

/// One of the two sides of a channel. Rules are written once and applied
/// to a side and its [`Side::other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Far = 0,
    Near = 1,
}

impl Side {
    pub const BOTH: [Side; 2] = [Side::Far, Side::Near];

    pub fn other(self) -> Side {
        match self {
            Side::Far => Side::Near,
            Side::Near => Side::Far,
        }
    }
    pub fn index(self) -> usize {
        self as usize
    }
    pub fn name(self) -> &'static str {
        match self {
            Side::Far => "far",
            Side::Near => "near",
        }
    }
}

impl std::fmt::Display for Side {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A value for each side, indexed by [`Side`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Pair<T>(pub [T; 2]);

impl<T> std::ops::Index<Side> for Pair<T> {
    type Output = T;
    fn index(&self, side: Side) -> &T {
        &self.0[side.index()]
    }
}

impl<T> std::ops::IndexMut<Side> for Pair<T> {
    fn index_mut(&mut self, side: Side) -> &mut T {
        &mut self.0[side.index()]
    }
}

impl<T> Pair<T> {
    pub fn new(far: T, near: T) -> Pair<T> {
        Pair([far, near])
    }
}
