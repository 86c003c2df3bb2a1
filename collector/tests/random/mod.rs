//! Random programs against a sequential reachability oracle: the program model
//! (`program`), the oracle (`oracle`) and the executor with its checks (`exec`).

pub mod exec;
pub mod oracle;
pub mod program;
