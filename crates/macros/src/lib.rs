//! Derive macros for oxidask.
//!
//! `#[derive(DataSize)]` implements `DataSize` (the memory a value holds,
//! for the store's memory limit) by summing the heap sizes of the fields;
//! for an enum, of the fields of the variant the value is. Every field's
//! type must implement `DataSize` itself, and type parameters get a
//! `DataSize` bound.
//!
//! The generated code names the trait as `::oxidask::graph::DataSize`; a
//! crate that depends on `oxidask-graph` but not on the facade says where
//! to find it with `#[data_size(crate = "oxidask_graph")]`.

use proc_macro::TokenStream;
use proc_macro2::TokenStream as Tokens;
use quote::{format_ident, quote};
use syn::{Data, DeriveInput, Fields, parse_macro_input};

/// Derives `DataSize` by summing the fields' heap sizes.
///
/// ```ignore
/// #[derive(Clone, oxidask::DataSize)]
/// struct Row { name: String, values: Vec<(u32, f32)> }
/// ```
#[proc_macro_derive(DataSize, attributes(data_size))]
pub fn derive_data_size(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    match expand(input) {
        Ok(t) => t.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

fn trait_path(input: &DeriveInput) -> syn::Result<Tokens> {
    let mut path = quote!(::oxidask::graph::DataSize);
    for attr in input
        .attrs
        .iter()
        .filter(|a| a.path().is_ident("data_size"))
    {
        attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("crate") {
                let krate: syn::LitStr = meta.value()?.parse()?;
                let krate: syn::Path = krate.parse()?;
                path = quote!(#krate::DataSize);
                Ok(())
            } else {
                Err(meta.error("expected `crate = \"path\"`"))
            }
        })?;
    }
    Ok(path)
}

/// The sum of the heap sizes of `fields`, bound to names by `pattern`.
fn fields_sum(fields: &Fields, size: &Tokens) -> (Tokens, Tokens) {
    match fields {
        Fields::Named(named) => {
            let names: Vec<_> = named.named.iter().map(|f| f.ident.clone()).collect();
            (
                quote!({ #(#names),* }),
                quote!(0usize #(+ #size::heap_bytes(#names))*),
            )
        }
        Fields::Unnamed(unnamed) => {
            let names: Vec<_> = (0..unnamed.unnamed.len())
                .map(|i| format_ident!("f{i}"))
                .collect();
            (
                quote!(( #(#names),* )),
                quote!(0usize #(+ #size::heap_bytes(#names))*),
            )
        }
        Fields::Unit => (quote!(), quote!(0usize)),
    }
}

fn expand(mut input: DeriveInput) -> syn::Result<Tokens> {
    let size = trait_path(&input)?;
    for param in input.generics.type_params_mut() {
        param.bounds.push(syn::parse_quote!(#size));
    }
    let name = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let body = match &input.data {
        Data::Struct(s) => {
            let (pattern, sum) = fields_sum(&s.fields, &size);
            quote! {
                let #name #pattern = self;
                #sum
            }
        }
        Data::Enum(e) => {
            let arms = e.variants.iter().map(|v| {
                let variant = &v.ident;
                let (pattern, sum) = fields_sum(&v.fields, &size);
                quote!(#name::#variant #pattern => #sum,)
            });
            quote! {
                #[allow(unreachable_code)]
                match self { #(#arms)* }
            }
        }
        Data::Union(u) => {
            return Err(syn::Error::new(
                u.union_token.span,
                "DataSize cannot be derived for unions: which field is live is unknown",
            ));
        }
    };
    Ok(quote! {
        impl #impl_generics #size for #name #ty_generics #where_clause {
            #[allow(unused_variables)]
            fn heap_bytes(&self) -> usize {
                #body
            }
        }
    })
}
