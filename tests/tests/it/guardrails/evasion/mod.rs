//! Ways to disguise what a guardrail looks for, each with the decision it
//! must reach.

mod corpus;
mod keywords;
mod urls;
