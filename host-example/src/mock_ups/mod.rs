//! A faithful mock of the UPS OAuth "Auth Code" API and sign-in screens.
