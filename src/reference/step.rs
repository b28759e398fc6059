//! A whole training step on the CPU: forward, loss, backward and update of a compiled
//! [`Network`], built from the twins in [`super::ops`]. It follows the GPU plan's
//! conventions: the gradient handed to a layer already includes the derivative of that
//! layer's own activation, dropout masks are drawn from the step count before the step, and
//! batch normalisation leaves padding rows out.

use super::ops::{self, LossOutput};
use crate::model::{dropout_seed, init_params, init_stats, Network, Op, Optimizer, ParamLayout};

pub struct ReferenceModel {
    pub net: Network,
    /// Trainable tensors in [`ParamLayout::trainable`] order.
    pub params: Vec<Vec<f32>>,
    /// Non-trainable tensors (moving statistics) in [`ParamLayout::non_trainable`] order.
    pub stats: Vec<Vec<f32>>,
    pub optimizer: Optimizer,
    /// Seeds dropout masks (as the trainer's seed does).
    pub seed: u64,
    /// Optimizer state per tensor: `state[s][tensor]`.
    state: Vec<Vec<Vec<f32>>>,
    /// Steps taken: dropout's step count, and Adam's t after the next step is `steps + 1`.
    pub steps: u32,
    trainable: ParamLayout,
    non_trainable: ParamLayout,
}

/// What a layer's forward keeps for its backward.
enum Cache {
    None,
    Cols(Vec<f32>),
    Argmax(Vec<u32>),
    Norm {
        mean: Vec<f32>,
        inv_std: Vec<f32>,
        n: usize,
    },
}

impl ReferenceModel {
    /// The model as [`crate::train::Trainer::new`] starts it for `seed`.
    pub fn new(net: Network, optimizer: Optimizer, seed: u64) -> ReferenceModel {
        let trainable = ParamLayout::trainable(&net, 1);
        let params = init_params(&trainable, seed);
        Self::with_params(net, params, optimizer, seed)
    }

    pub fn with_params(
        net: Network,
        params: Vec<Vec<f32>>,
        optimizer: Optimizer,
        seed: u64,
    ) -> ReferenceModel {
        let trainable = ParamLayout::trainable(&net, 1);
        let non_trainable = ParamLayout::non_trainable(&net, 1);
        let zeros: Vec<Vec<f32>> = params.iter().map(|p| vec![0.0; p.len()]).collect();
        ReferenceModel {
            state: vec![zeros; optimizer.state_tensors()],
            stats: init_stats(&non_trainable),
            net,
            params,
            optimizer,
            seed,
            steps: 0,
            trainable,
            non_trainable,
        }
    }

    fn tensor(&self, layer: usize, k: usize) -> usize {
        let name = &self.trainable.of_layer(layer)[k].spec.name;
        self.trainable
            .tensors
            .iter()
            .position(|t| &t.spec.name == name)
            .expect("tensor of layer")
    }

    fn stat(&self, layer: usize, k: usize) -> usize {
        let name = &self.non_trainable.of_layer(layer)[k].spec.name;
        self.non_trainable
            .tensors
            .iter()
            .position(|t| &t.spec.name == name)
            .expect("stat of layer")
    }

    /// Outputs of every layer for `x: [batch, input features]` (the last holds logits:
    /// softmax is fused into the loss). Training mode draws dropout masks and uses (and
    /// updates) batch statistics.
    fn forward(
        &mut self,
        x: &[f32],
        labels: &[u32],
        training: bool,
    ) -> (Vec<Vec<f32>>, Vec<Cache>) {
        let batch = labels.len();
        let mut outs: Vec<Vec<f32>> = Vec::new();
        let mut caches = Vec::new();
        for i in 0..self.net.layers.len() {
            let l = self.net.layers[i].clone();
            let input: &[f32] = if i == 0 { x } else { &outs[i - 1] };
            let (y, cache) = match l.op {
                Op::Conv2d(w) => {
                    let cols = ops::im2col(input, &w, batch);
                    let (kernel, bias) = (self.tensor(i, 0), self.tensor(i, 1));
                    let y = ops::dense_forward(
                        &cols,
                        &self.params[kernel],
                        &self.params[bias],
                        batch * w.output.h * w.output.w,
                        w.patch(),
                        w.output.c,
                        l.activation,
                    );
                    (y, Cache::Cols(cols))
                }
                Op::MaxPool(w) => {
                    let (y, argmax) = ops::max_pool_forward(input, &w, batch);
                    (y, Cache::Argmax(argmax))
                }
                Op::AvgPool(w) => (ops::avg_pool_forward(input, &w, batch), Cache::None),
                Op::Flatten => (input.to_vec(), Cache::None),
                Op::Dense { fan_in, units } => {
                    let (kernel, bias) = (self.tensor(i, 0), self.tensor(i, 1));
                    let y = ops::dense_forward(
                        input,
                        &self.params[kernel],
                        &self.params[bias],
                        batch,
                        fan_in,
                        units,
                        l.activation,
                    );
                    (y, Cache::None)
                }
                Op::Dropout { rate } => {
                    if training {
                        (
                            ops::dropout(input, rate, dropout_seed(self.seed, i), self.steps),
                            Cache::None,
                        )
                    } else {
                        (input.to_vec(), Cache::None)
                    }
                }
                Op::BatchNorm {
                    channels,
                    spatial,
                    momentum,
                    epsilon,
                } => {
                    let (gamma, beta) = (self.tensor(i, 0), self.tensor(i, 1));
                    let (mm, mv) = (self.stat(i, 0), self.stat(i, 1));
                    if training {
                        let (mean, var, inv_std, n) =
                            ops::batchnorm_stats(input, labels, channels, spatial, epsilon);
                        for c in 0..channels {
                            self.stats[mm][c] =
                                self.stats[mm][c] * momentum + mean[c] * (1.0 - momentum);
                            self.stats[mv][c] =
                                self.stats[mv][c] * momentum + var[c] * (1.0 - momentum);
                        }
                        let y = ops::batchnorm_apply(
                            input,
                            &mean,
                            &inv_std,
                            &self.params[gamma],
                            &self.params[beta],
                        );
                        (y, Cache::Norm { mean, inv_std, n })
                    } else {
                        let inv_std: Vec<f32> = self.stats[mv]
                            .iter()
                            .map(|v| 1.0 / (v + epsilon).sqrt())
                            .collect();
                        let y = ops::batchnorm_apply(
                            input,
                            &self.stats[mm],
                            &inv_std,
                            &self.params[gamma],
                            &self.params[beta],
                        );
                        (y, Cache::None)
                    }
                }
            };
            outs.push(y);
            caches.push(cache);
        }
        (outs, caches)
    }

    /// Loss and metrics of a batch without training (dropout off, moving statistics).
    pub fn evaluate(&mut self, x: &[f32], labels: &[u32]) -> LossOutput {
        let (outs, _) = self.forward(x, labels, false);
        ops::softmax_xent(
            outs.last().expect("a network has layers"),
            labels,
            self.net.classes,
        )
    }

    /// Gradients of every trainable tensor (in `params` order) for one batch, and the loss.
    /// Runs the training forward, so it updates moving statistics.
    pub fn gradients(&mut self, x: &[f32], labels: &[u32]) -> (Vec<Vec<f32>>, LossOutput) {
        let batch = labels.len();
        let (outs, caches) = self.forward(x, labels, true);
        let loss = ops::softmax_xent(
            outs.last().expect("a network has layers"),
            labels,
            self.net.classes,
        );
        let mut grads: Vec<Vec<f32>> = self.params.iter().map(|p| vec![0.0; p.len()]).collect();
        let mut dy = loss.dlogits.clone();
        for i in (0..self.net.layers.len()).rev() {
            let l = &self.net.layers[i];
            let input: &[f32] = if i == 0 { x } else { &outs[i - 1] };
            let dx = match (&l.op, &caches[i]) {
                (Op::Conv2d(w), Cache::Cols(cols)) => {
                    let rows = batch * w.output.h * w.output.w;
                    let (kernel, bias) = (self.tensor(i, 0), self.tensor(i, 1));
                    grads[kernel] =
                        ops::matmul(cols, &dy, (w.patch(), w.output.c, rows), true, false);
                    grads[bias] = ops::bias_grad(&dy, rows, w.output.c);
                    let dcols = ops::matmul(
                        &dy,
                        &self.params[kernel],
                        (rows, w.patch(), w.output.c),
                        false,
                        true,
                    );
                    ops::col2im(&dcols, w, batch)
                }
                (Op::MaxPool(w), Cache::Argmax(argmax)) => {
                    ops::max_pool_backward(&dy, argmax, w, batch)
                }
                (Op::AvgPool(w), _) => ops::avg_pool_backward(&dy, w, batch),
                // Flatten hands the gradient through untouched: the layer after it already
                // applied the derivative of the activation before it.
                (Op::Flatten, _) => {
                    continue;
                }
                (&Op::Dense { fan_in, units }, _) => {
                    let (kernel, bias) = (self.tensor(i, 0), self.tensor(i, 1));
                    grads[kernel] = ops::matmul(input, &dy, (fan_in, units, batch), true, false);
                    grads[bias] = ops::bias_grad(&dy, batch, units);
                    ops::matmul(
                        &dy,
                        &self.params[kernel],
                        (batch, fan_in, units),
                        false,
                        true,
                    )
                }
                (&Op::Dropout { rate }, _) => {
                    ops::dropout(&dy, rate, dropout_seed(self.seed, i), self.steps)
                }
                (&Op::BatchNorm { spatial, .. }, Cache::Norm { mean, inv_std, n }) => {
                    let (gamma, beta) = (self.tensor(i, 0), self.tensor(i, 1));
                    let (dgamma, dbeta, dx) = ops::batchnorm_backward(
                        input,
                        &dy,
                        labels,
                        spatial,
                        mean,
                        inv_std,
                        &self.params[gamma],
                        *n,
                    );
                    grads[gamma] = dgamma;
                    grads[beta] = dbeta;
                    dx
                }
                _ => unreachable!("forward keeps what each backward needs"),
            };
            let mut dx = dx;
            ops::activation_backward(&mut dx, input, self.net.input_activation(i));
            dy = dx;
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
