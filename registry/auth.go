package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/docker/cli/cli/config"
	"github.com/docker/cli/cli/config/configfile"
	"github.com/docker/cli/cli/config/types"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// ConfigKeychain returns a keychain that reads docker's config.json in
// configDir (the directory docker calls $DOCKER_CONFIG, by default
// ~/.docker), including any credsStore or credHelpers it names. The file is
// read on every lookup, so a later [Login] is seen. A missing file means
// anonymous access.
func ConfigKeychain(configDir string) authn.Keychain {
	return configKeychain{dir: configDir}
}

type configKeychain struct{ dir string }

var _ authn.Keychain = configKeychain{}

// Resolve implements [authn.Keychain] with the lookup order of
// go-containerregistry's default keychain: the repository, then the
// registry.
func (k configKeychain) Resolve(target authn.Resource) (authn.Authenticator, error) {
	cf, err := config.Load(k.dir)
	if err != nil {
		return nil, fmt.Errorf("reading docker config in %s: %w", k.dir, err)
	}
	for _, key := range []string{target.String(), target.RegistryStr()} {
		ac, err := cf.GetAuthConfig(authKey(key))
		if err != nil {
			return nil, fmt.Errorf("reading credentials for %s: %w", key, err)
		}
		ac.ServerAddress = ""
		if ac != (types.AuthConfig{}) {
			return authn.FromConfig(authn.AuthConfig{
				Username:      ac.Username,
				Password:      ac.Password,
				Auth:          ac.Auth,
				IdentityToken: ac.IdentityToken,
				RegistryToken: ac.RegistryToken,
			}), nil
		}
	}
	return authn.Anonymous, nil
}

// authKey is the config.json key for a registry host: Docker Hub keeps its
// historical "https://index.docker.io/v1/".
func authKey(host string) string {
	if host == name.DefaultRegistry || host == dockerHub {
		return authn.DefaultAuthKey
	}
	return host
}

// Login checks user and password against registry (a host such as
// "127.0.0.1:5000"; "" or "docker.io" is Docker Hub) and, if the registry
// accepts them, saves them in configDir/config.json the way `docker login`
// does: in the credential helper the file configures for that registry, or
// else base64-encoded in the file itself. The file is replaced atomically.
//
// A rejected login is an *[Error] with StatusCode 401; no error message
// contains the password.
func Login(ctx context.Context, configDir, registry, user, password string, opts ...Option) error {
	o, err := makeOptions(opts...)
	if err != nil {
		return err
	}
	reg, err := o.registry(registry)
	if err != nil {
		return err
	}
	host := reg.RegistryStr()
	if user == "" {
		return &Error{Op: "logging in to", Ref: host, Err: fmt.Errorf("username is empty")}
	}
	basic := &authn.Basic{Username: user, Password: password}
	if err := checkLogin(ctx, reg, basic, o); err != nil {
		var te *transport.Error
		if errors.As(err, &te) && te.StatusCode == http.StatusUnauthorized {
			err = fmt.Errorf("incorrect username or password: %w", err)
		}
		return newError("logging in to", host, "", redact(err, password))
	}
	cf, err := config.Load(configDir)
	if err != nil {
		return fmt.Errorf("reading docker config: %w", err)
	}
	key := authKey(host)
	ac := types.AuthConfig{Username: user, Password: password, ServerAddress: key}
	if usesHelper(cf, key) {
		err = cf.GetCredentialsStore(key).Store(ac)
	} else {
		if cf.AuthConfigs == nil {
			cf.AuthConfigs = map[string]types.AuthConfig{}
		}
		cf.AuthConfigs[key] = ac
		err = cf.Save()
	}
	if err != nil {
		return fmt.Errorf("saving credentials for %s in %s: %w", host, cf.Filename, redact(err, password))
	}
	return nil
}

// usesHelper reports whether config.json sends key's credentials to a
// credential helper.
func usesHelper(cf *configfile.ConfigFile, key string) bool {
	if _, ok := cf.CredentialHelpers[key]; ok {
		return true
	}
	return cf.CredentialsStore != ""
}

// checkLogin pings the registry, authenticates (for a token registry, this
// is the token exchange) and requires GET /v2/ to succeed.
func checkLogin(ctx context.Context, reg name.Registry, auth authn.Authenticator, o *options) error {
	rt := o.bounded()
	if o.userAgent != "" {
		rt = transport.NewUserAgent(rt, o.userAgent)
	}
	rt, err := transport.NewWithContext(ctx, reg, auth, rt, nil)
	if err != nil {
		return err
	}
	// The scheme is rewritten to what the ping found to work.
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+reg.RegistryStr()+"/v2/", nil)
	if err != nil {
		return err
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := transport.CheckError(resp, http.StatusOK); err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return nil
}

// Logout removes the credentials for registry ("" or "docker.io" is Docker
// Hub) from configDir/config.json or the credential helper it names. Logging
// out of a registry one is not logged in to is not an error.
func Logout(configDir, registry string) error {
	o, err := makeOptions()
	if err != nil {
		return err
	}
	reg, err := o.registry(registry)
	if err != nil {
		return err
	}
	cf, err := config.Load(configDir)
	if err != nil {
		return fmt.Errorf("reading docker config: %w", err)
	}
	key := authKey(reg.RegistryStr())
	if err := cf.GetCredentialsStore(key).Erase(key); err != nil {
		return fmt.Errorf("removing credentials for %s: %w", reg.RegistryStr(), err)
	}
	if _, ok := cf.AuthConfigs[key]; ok {
		// A helper was used but the file still has an old entry.
		delete(cf.AuthConfigs, key)
		if err := cf.Save(); err != nil {
			return fmt.Errorf("removing credentials for %s: %w", reg.RegistryStr(), err)
		}
	}
	return nil
}
