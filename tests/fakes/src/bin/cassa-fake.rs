//! `cassa-fake <intermediary>`: serves one fake intermediary until interrupted, for
//! `cassa connector test … --against <URL>` and for trying a connector by hand.
//!
//! The first line it prints is the base URL; `GET <URL>/_fake/conformance` gives a working
//! configuration.

use std::net::SocketAddr;

use clap::{Parser, ValueEnum};

/// Which intermediary to fake.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Which {
    /// pagoPA GPD, with its receipts and notice services.
    Gpd,
    /// MyPay (Regione Veneto), PagamentiTelematiciDovutiPagati.
    Mypay,
    /// GovPay, API Pendenze v2.
    Govpay,
    /// IRIS (Regione Toscana): pendenze, payment status, IUV and notice generation.
    Iris,
    /// pagoPA Checkout, carts v2 (subscription key `checkout-demo-key`).
    Checkout,
}

/// Serves a strict fake of a payment intermediary.
#[derive(Debug, Parser)]
#[command(name = "cassa-fake", version, about)]
struct Args {
    /// The intermediary.
    which: Which,
    /// Where to listen; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().with_writer(std::io::stderr).init();
    let args = Args::parse();
    match args.which {
        Which::Gpd => {
            let fake = cassa_fakes::gpd::Gpd::new(cassa_fakes::gpd::GpdSettings::default())?;
            serve(cassa_fakes::serve(fake, args.listen).await?).await
        }
        Which::Govpay => {
            let fake = cassa_fakes::govpay::Govpay::new(cassa_fakes::govpay::GovpaySettings::default())?;
            serve(cassa_fakes::serve(fake, args.listen).await?).await
        }
        Which::Checkout => {
            let fake = cassa_fakes::checkout::Checkout::new("checkout-demo-key")?;
            serve(cassa_fakes::serve(fake, args.listen).await?).await
        }
        Which::Iris => {
            let fake = cassa_fakes::iris::Iris::new(cassa_fakes::iris::IrisSettings::default());
            serve(cassa_fakes::serve(fake, args.listen).await?).await
        }
        Which::Mypay => {
            let fake = cassa_fakes::mypay::Mypay::new(cassa_fakes::mypay::MypaySettings::default());
            serve(cassa_fakes::serve(fake, args.listen).await?).await
        }
    }
}

/// Prints the base URL and serves until interrupted.
async fn serve<F>(running: cassa_fakes::Running<F>) -> anyhow::Result<()> {
    println!("{}", running.base_url);
    tokio::signal::ctrl_c().await?;
    Ok(())
}
