//! Collects every error of one expansion, so a user sees all their mistakes in one compile.

use std::cell::RefCell;

use proc_macro2::TokenStream;
use quote::ToTokens;

#[derive(Default)]
pub(crate) struct Ctxt {
    errors: RefCell<Vec<syn::Error>>,
}

impl Ctxt {
    pub(crate) fn error_spanned_by(&self, tokens: impl ToTokens, msg: impl std::fmt::Display) {
        self.errors.borrow_mut().push(syn::Error::new_spanned(tokens, msg));
    }

    pub(crate) fn push(&self, err: syn::Error) {
        self.errors.borrow_mut().push(err);
    }

    /// `Ok` when nothing went wrong, otherwise every error as `compile_error!` invocations.
    pub(crate) fn check(self) -> Result<(), TokenStream> {
        let errors = self.errors.into_inner();
        if errors.is_empty() {
            return Ok(());
        }
        Err(errors.iter().map(syn::Error::to_compile_error).collect())
    }
}
