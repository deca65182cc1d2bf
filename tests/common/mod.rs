//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod lab;
pub mod mariadb;
pub mod pam;
pub mod tmux;
