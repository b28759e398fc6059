//! A whole training step on the CPU: forward, loss, backward and update of a compiled
//! [`Network`], as a loop over the layers' twins ([`crate::layers::Layer::twin_forward`] and
//! `twin_backward`, which call only [`crate::reference::ops`]). It follows the GPU's conventions, not its
//! code: the gradient handed to a layer already includes the derivative of that layer's own
//! activation (applied here after each layer's twin backward, not fused), dropout masks are
//! drawn from the step count before the step, and batch normalisation leaves padding rows out.

use std::any::Any;
use std::sync::Arc;

use super::{init_params, init_stats, Network, ParamLayout};
use crate::layers::{Node, Tensors, TensorsMut, TwinBackward, TwinForward};
use crate::optim::Optimizer;
use crate::reference::ops::{self, LossOutput};

/// What each layer's twin forward keeps for its backward.
type Caches = Vec<Option<Box<dyn Any>>>;

pub struct ReferenceModel {
    pub net: Network,
    /// Trainable tensors in [`ParamLayout::trainable`] order.
    pub params: Vec<Vec<f32>>,
    /// Non-trainable tensors (moving statistics) in [`ParamLayout::non_trainable`] order.
    pub stats: Vec<Vec<f32>>,
    pub optimizer: Arc<dyn Optimizer>,
    /// Seeds dropout masks (as the trainer's seed does).
    pub seed: u64,
    /// Keras's label smoothing of the loss (as [`crate::train::TrainConfig::label_smoothing`]).
    pub label_smoothing: f32,
    /// Optimizer state per tensor: `state[tensor][s]`.
    state: Vec<Vec<Vec<f32>>>,
    /// Steps taken: dropout's step count, and Adam's t after the next step is `steps + 1`.
    pub steps: u32,
    trainable: ParamLayout,
    non_trainable: ParamLayout,
}

/// Layer `i`'s tensors of `layout`: their names within the layer and indices.
fn names_of(layout: &ParamLayout, i: usize) -> Vec<(&str, usize)> {
    layout
        .of_layer(i)
        .map(|(k, t)| (t.spec.short_name(), k))
        .collect()
}

impl ReferenceModel {
    /// The model as [`crate::train::Trainer::new`] starts it for `seed`.
    pub fn new(net: Network, optimizer: Arc<dyn Optimizer>, seed: u64) -> ReferenceModel {
        let trainable = ParamLayout::trainable(&net, 1);
        let params = init_params(&trainable, seed);
        Self::with_params(net, params, optimizer, seed)
    }

    pub fn with_params(
        net: Network,
        params: Vec<Vec<f32>>,
        optimizer: Arc<dyn Optimizer>,
        seed: u64,
    ) -> ReferenceModel {
        let trainable = ParamLayout::trainable(&net, 1);
        let non_trainable = ParamLayout::non_trainable(&net, 1);
        let state = params
            .iter()
            .map(|p| vec![vec![0.0; p.len()]; optimizer.state().len()])
            .collect();
        ReferenceModel {
            state,
            stats: init_stats(&non_trainable),
            net,
            params,
            optimizer,
            seed,
            label_smoothing: 0.0,
            steps: 0,
            trainable,
            non_trainable,
        }
    }

    /// Outputs of every layer for `x: [batch, input features]` (the last holds logits:
    /// softmax is fused into the loss), and what each layer's backward needs. Training mode
    /// draws dropout masks and uses (and updates) batch statistics.
    fn forward(&mut self, x: &[f32], labels: &[u32], training: bool) -> (Vec<Vec<f32>>, Caches) {
        let mut outs: Vec<Vec<f32>> = Vec::new();
        let mut caches = Vec::new();
        for (i, node) in self.net.layers.iter().enumerate() {
            let input: &[f32] = if i == 0 { x } else { &outs[i - 1] };
            let mut t = TwinForward {
                x: input,
                labels,
                batch: labels.len(),
                training,
                seed: self.seed,
                index: i,
                step: self.steps,
                params: Tensors {
                    names: names_of(&self.trainable, i),
                    values: &self.params,
                },
                stats: TensorsMut {
                    names: names_of(&self.non_trainable, i),
                    values: &mut self.stats,
                },
                cache: None,
            };
            let y = node.layer.twin_forward(node, &mut t);
            caches.push(t.cache);
            outs.push(y);
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
            self.label_smoothing,
        )
    }

    /// Every layer's evaluation output for `x` (dropout off, moving statistics): the twin of
    /// [`crate::eval::Evaluator::layer_outputs`].
    pub fn layer_outputs(&mut self, x: &[f32], labels: &[u32]) -> Vec<Vec<f32>> {
        self.forward(x, labels, false).0
    }

    /// Class probabilities of a batch (`[batch, classes]`; padding rows left at 0), as the
    /// predictions accumulator writes them for batch 0 of a pass.
    pub fn predict(&mut self, x: &[f32], labels: &[u32]) -> Vec<f32> {
        let (outs, _) = self.forward(x, labels, false);
        let mut probs = vec![0.0; labels.len() * self.net.classes];
        let logits = outs.last().expect("a network has layers");
        ops::predictions(logits, labels, self.net.classes, 0, &mut probs);
        probs
    }

    /// Gradients of every trainable tensor (in `params` order) for one batch, and the loss.
    /// Runs the training forward, so it updates moving statistics.
    pub fn gradients(&mut self, x: &[f32], labels: &[u32]) -> (Vec<Vec<f32>>, LossOutput) {
        let (outs, caches) = self.forward(x, labels, true);
        let loss = ops::softmax_xent(
            outs.last().expect("a network has layers"),
            labels,
            self.net.classes,
            self.label_smoothing,
        );
        let mut grads: Vec<Vec<f32>> = self.params.iter().map(|p| vec![0.0; p.len()]).collect();
        let mut dy = loss.dlogits.clone();
        for (i, node) in self.net.layers.iter().enumerate().rev() {
            let input: &[f32] = if i == 0 { x } else { &outs[i - 1] };
            let mut dx = self.backward(
                i,
                node,
                (input, &dy, labels),
                caches[i].as_deref(),
                &mut grads,
            );
            // A view (flatten) hands the gradient through untouched: the layer above it
            // already applied the derivative of the activation below it.
            if !node.layer.is_view() {
                ops::activation_backward(&mut dx, input, self.net.input_activation(i));
            }
            dy = dx;
        }
        (grads, loss)
    }

    /// Layer `i`'s twin backward.
    fn backward(
        &self,
        i: usize,
        node: &Node,
        (x, dy, labels): (&[f32], &[f32], &[u32]),
        cache: Option<&dyn Any>,
        grads: &mut [Vec<f32>],
    ) -> Vec<f32> {
        let mut t = TwinBackward {
            x,
            dy,
            labels,
            batch: labels.len(),
            seed: self.seed,
            index: i,
            step: self.steps,
            params: Tensors {
                names: names_of(&self.trainable, i),
                values: &self.params,
            },
            grads: TensorsMut {
                names: names_of(&self.trainable, i),
                values: grads,
            },
            cache,
        };
        node.layer.twin_backward(node, &mut t)
    }

    /// One training step on a batch at the optimizer's own learning rate; returns the batch's
    /// loss output.
    pub fn train_step(&mut self, x: &[f32], labels: &[u32]) -> LossOutput {
        let lr = self.optimizer.learning_rate() as f64;
        self.train_step_at(x, labels, lr)
    }

    /// One training step at learning rate `lr` (a schedule's), with the optimizer's factors
    /// for it computed as the trainer's rate table computes them.
    pub fn train_step_at(&mut self, x: &[f32], labels: &[u32], lr: f64) -> LossOutput {
        let (grads, loss) = self.gradients(x, labels);
        self.steps += 1;
        let rate = self.optimizer.rate(lr, self.steps as u64);
        for ((w, g), state) in self.params.iter_mut().zip(&grads).zip(&mut self.state) {
            self.optimizer.twin_step(w, g, state, rate);
        }
        loss
    }
}
