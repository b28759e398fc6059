//! A whole training step on the CPU: forward, loss, backward and update of a compiled
//! [`Network`], built from the twins in [`super::ops`].

use super::ops::{self, LossOutput};
use crate::model::{Network, Optimizer};

pub struct ReferenceModel {
    pub net: Network,
    /// Per dense layer: kernel `[fan_in, units]`, then bias `[units]` (the order of
    /// [`crate::model::ParamLayout`]).
    pub params: Vec<Vec<f32>>,
    pub optimizer: Optimizer,
    /// Optimizer state per tensor: `state[s][tensor]`.
    state: Vec<Vec<Vec<f32>>>,
    /// Steps taken (Adam's t after the next step is `steps + 1`).
    pub steps: u32,
}

impl ReferenceModel {
    pub fn new(net: Network, params: Vec<Vec<f32>>, optimizer: Optimizer) -> ReferenceModel {
        let zeros: Vec<Vec<f32>> = params.iter().map(|p| vec![0.0; p.len()]).collect();
        ReferenceModel {
            state: vec![zeros; optimizer.state_tensors()],
            net,
            params,
            optimizer,
            steps: 0,
        }
    }

    /// Activations of every layer for `x: [rows, input]`: element i is layer i's output
    /// (the last holds logits: softmax is fused into the loss).
    pub fn forward(&self, x: &[f32], rows: usize) -> Vec<Vec<f32>> {
        let mut outs: Vec<Vec<f32>> = Vec::new();
        for (i, l) in self.net.dense.iter().enumerate() {
            let input = if i == 0 { x } else { &outs[i - 1] };
            let y = ops::dense_forward(
                input,
                &self.params[2 * i],
                &self.params[2 * i + 1],
                rows,
                l.fan_in,
                l.units,
                l.activation,
            );
            outs.push(y);
        }
        outs
    }

    /// Loss and metrics of a batch without training.
    pub fn evaluate(&self, x: &[f32], labels: &[u32]) -> LossOutput {
        let outs = self.forward(x, labels.len());
        ops::softmax_xent(
            outs.last().expect("a network has layers"),
            labels,
            self.net.classes,
        )
    }

    /// Gradients of every tensor (same order as `params`) for one batch, and the loss output.
    pub fn gradients(&self, x: &[f32], labels: &[u32]) -> (Vec<Vec<f32>>, LossOutput) {
        let rows = labels.len();
        let outs = self.forward(x, rows);
        let loss = ops::softmax_xent(
            outs.last().expect("a network has layers"),
            labels,
            self.net.classes,
        );
        let mut grads = vec![Vec::new(); self.params.len()];
        let mut dy = loss.dlogits.clone();
        for i in (0..self.net.dense.len()).rev() {
            let l = self.net.dense[i];
            let input = if i == 0 { x } else { &outs[i - 1] };
            grads[2 * i] = ops::matmul(input, &dy, (l.fan_in, l.units, rows), true, false);
            grads[2 * i + 1] = ops::bias_grad(&dy, rows, l.units);
            if i > 0 {
                let mut dx = ops::matmul(
                    &dy,
                    &self.params[2 * i],
                    (rows, l.fan_in, l.units),
                    false,
                    true,
                );
                ops::activation_backward(&mut dx, &outs[i - 1], self.net.dense[i - 1].activation);
                dy = dx;
            }
        }
        (grads, loss)
    }

    /// One training step on a batch; returns the batch's loss output.
    pub fn train_step(&mut self, x: &[f32], labels: &[u32]) -> LossOutput {
        let (grads, loss) = self.gradients(x, labels);
        self.steps += 1;
        let t = self.steps;
        for (i, g) in grads.iter().enumerate() {
            let w = &mut self.params[i];
            match self.optimizer {
                Optimizer::Sgd { lr, momentum: 0.0 } => ops::sgd(w, g, lr),
                Optimizer::Sgd { lr, momentum } => {
                    ops::sgd_momentum(w, g, &mut self.state[0][i], lr, momentum)
                }
                Optimizer::Adam {
                    lr,
                    beta1,
                    beta2,
                    eps,
                } => {
                    let (m, v) = self.state.split_at_mut(1);
                    ops::adam(w, g, &mut m[0][i], &mut v[0][i], t, lr, beta1, beta2, eps)
                }
                Optimizer::RmsProp { lr, rho, eps } => {
                    ops::rmsprop(w, g, &mut self.state[0][i], lr, rho, eps)
                }
            }
        }
        loss
    }
}
