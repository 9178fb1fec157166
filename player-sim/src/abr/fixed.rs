//! Fixed quality (a baseline).

use super::{Abr, Ctx, Decision};

/// Always the same quality.
#[derive(Debug, Clone)]
pub struct Fixed {
    quality: usize,
}

impl Fixed {
    /// Always `quality`.
    pub fn new(quality: usize) -> Self {
        Fixed { quality }
    }
}

impl Abr for Fixed {
    fn first_quality(&mut self, _ctx: &Ctx) -> usize {
        self.quality
    }
    fn decide(&mut self, _ctx: &Ctx) -> Decision {
        Decision::q(self.quality)
    }
}
